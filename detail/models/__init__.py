"""The detail domain's tables, one module per area; import them from here.

- base: UTC times, the coordinate checks, "one of these values", the signals;
- accounts: the organisation, its users, their sign-in sessions and API tokens;
- team: agents, their devices and phone numbers, their unavailability;
- operations: clients, principals, venues, details with their visits, movements and assignments,
  and what was removed from a detail (kept for a short undo);
- reports: status codes, statuses and positions from the field, the event log, alerts;
- notices: mail to one person, written before it is sent;
- alerting: on-call shifts, contact channels, push subscriptions, texts out, escalation policies,
  escalations and their notification attempts;
- messages: team messages and each recipient's receipts (delivered, read, acknowledged);
- push: Web Push notifications waiting for the "push" job;
- work: risks, persons of interest, clients' requests, handoffs, after-action reports, surveys.

Times are stored in UTC (UTCDateTime makes SQLite keep that promise too) and shown in
each venue's time zone. Rules that must hold whatever code writes the rows live in the
database as foreign keys, unique keys and check constraints.

Internal fields: a column declared with ``info={"internal": True}`` holds what only the organisation's
own people may read (the team's notes, assessments, survey findings, what an agent reported). It never
reaches a client contact: not the portal's pages, not the mail sent to contacts (digests, notices), not
the feeds they read. The marker is what tests/test_internal_fields.py walks the models for: it fills
every such column and reads everything a client can read for it. A new text column that clients must
not see gets the marker too.

Every table's module is imported here, so the metadata Alembic compares with the migrations holds
them all.
"""

from detail.models.accounts import ROLES, STAFF_ROLES, ApiToken, Organisation, User, UserSession, new_session_version
from detail.models.alerting import (
    ACK_VIA,
    ATTEMPT_STATUSES,
    CHANNELS,
    CONTACT_KINDS,
    ESCALATION_KINDS,
    ON_CALL_ROLES,
    STEP_TARGETS,
    TEXT_PURPOSES,
    TEXT_STATUSES,
    ContactChannel,
    Escalation,
    EscalationPolicy,
    EscalationStep,
    NotificationAttempt,
    OnCallShift,
    PushSubscription,
    TextMessage,
)
from detail.models.base import (
    CODE_SIGNALS,
    GEOFENCE_LEAVE_SIGNALS,
    UTCDateTime,
    latlon_checks,
    one_of,
    utcnow,
)
from detail.models.messages import DELIVERY_VIAS, MESSAGE_AUDIENCES, MessageRecipient, TeamMessage
from detail.models.notices import NOTICE_STATUSES, Notice
from detail.models.operations import (
    ASSIGNMENT_ROLE_LABELS,
    ASSIGNMENT_ROLES,
    DETAIL_STATES,
    REMOVAL_KINDS,
    Assignment,
    Client,
    Detail,
    Movement,
    Principal,
    Removal,
    Site,
    Visit,
)
from detail.models.push import QUEUED_PUSH_STATUSES, QueuedPush
from detail.models.reports import (
    ALERT_KINDS,
    CODE_KINDS,
    DEFAULT_STATUS_CODES,
    SOURCES,
    Alert,
    Event,
    Position,
    StatusCode,
    StatusReport,
    seed_status_codes,
)
from detail.models.team import DEVICE_KINDS, UNAVAILABILITY_KINDS, Agent, Device, Unavailability
from detail.models.work import (
    ASSESSMENTS,
    REQUEST_CHANNELS,
    REQUEST_PRIORITIES,
    RISK_STATUSES,
    SURVEY_STATUSES,
    ActionItem,
    AfterAction,
    ClientRequest,
    Handoff,
    PersonOfInterest,
    Risk,
    Survey,
    SurveyPhoto,
    SurveyRoute,
)

__all__ = [
    "ACK_VIA",
    "ALERT_KINDS",
    "ASSESSMENTS",
    "ASSIGNMENT_ROLES",
    "ASSIGNMENT_ROLE_LABELS",
    "ATTEMPT_STATUSES",
    "CHANNELS",
    "CODE_KINDS",
    "CODE_SIGNALS",
    "CONTACT_KINDS",
    "DEFAULT_STATUS_CODES",
    "DELIVERY_VIAS",
    "DETAIL_STATES",
    "DEVICE_KINDS",
    "ESCALATION_KINDS",
    "GEOFENCE_LEAVE_SIGNALS",
    "MESSAGE_AUDIENCES",
    "NOTICE_STATUSES",
    "QUEUED_PUSH_STATUSES",
    "ON_CALL_ROLES",
    "REMOVAL_KINDS",
    "REQUEST_CHANNELS",
    "REQUEST_PRIORITIES",
    "RISK_STATUSES",
    "ROLES",
    "SOURCES",
    "STAFF_ROLES",
    "STEP_TARGETS",
    "SURVEY_STATUSES",
    "TEXT_PURPOSES",
    "TEXT_STATUSES",
    "UNAVAILABILITY_KINDS",
    "ActionItem",
    "AfterAction",
    "Agent",
    "Alert",
    "ApiToken",
    "Assignment",
    "Client",
    "ClientRequest",
    "ContactChannel",
    "Detail",
    "Device",
    "Escalation",
    "EscalationPolicy",
    "EscalationStep",
    "Event",
    "Handoff",
    "MessageRecipient",
    "Movement",
    "Notice",
    "NotificationAttempt",
    "OnCallShift",
    "Organisation",
    "PersonOfInterest",
    "Position",
    "Principal",
    "PushSubscription",
    "QueuedPush",
    "Removal",
    "Risk",
    "Site",
    "StatusCode",
    "StatusReport",
    "Survey",
    "SurveyPhoto",
    "SurveyRoute",
    "TeamMessage",
    "TextMessage",
    "UTCDateTime",
    "Unavailability",
    "User",
    "UserSession",
    "Visit",
    "latlon_checks",
    "new_session_version",
    "one_of",
    "seed_status_codes",
    "utcnow",
]
