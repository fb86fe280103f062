"""Access matrix: every route of the app, called by every kind of caller.

What it guarantees
------------------
* Every rule x method of ``app.url_map`` (HEAD and OPTIONS aside) has its own row in ROUTES: there is
  no default by prefix, so a new route under /admin/ or /api/v1/ is as unclassified as any other. An
  unclassified rule fails its cases and test_every_route_is_classified, so a new route cannot ship
  without a decision on who may use it.
* Each rule x method is called by each role of ROLES, with the ids of the own organisation's rows
  (world.org, world.client) in the URL, and gives exactly the expected outcome:

  allowed       2xx; a 3xx that does not go to the sign-in page; or, for a write sent with an empty
                body, 400/422 (validation refused it, so access was granted)
  sign-in       a redirect to /login (pages, anonymous)
  401           JSON speakers (API, phone and board JSON) called anonymously or without a token
  403           signed in with the wrong role (checked before any lookup: it says nothing of the row)
  404           the row is another organisation's or another client's: never 403, never the data

* test_foreign_ids_are_not_found: every route with ids, called by every role that may use it with
  another organisation's ids (agents and client contacts also with ids of rows that are not theirs),
  answers 404; a nested route with our parent and another client's child answers 404 too. Another
  organisation's ids in query strings are not found, or filter a list down to nothing.
* No answer carries the names of an organisation or a client the caller does not belong to, and no
  answer to an agent, a client contact or an anonymous caller carries a detail's internal notes.
* The API never takes a session instead of a bearer token; a deactivated account is shut out.
* The Socket.IO namespace /board: only admins and coordinators connect (session or token); joining or
  catching up on another organisation's detail is refused, and catch-up never returns its events.
* The Socket.IO namespace /phone: only agents connect, and a phone hears only its agent's details.

The HTTP cases share one world, built once per module; the database is restored from a snapshot
before each case, so a case that deletes or revokes something cannot affect the next.
"""

import html
import io
import json
import re
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pypdf
import pytest
import sqlalchemy as sa
from flask import Flask

from detail.domain import live
from detail.extensions import db
from detail.models import (
    ActionItem,
    AfterAction,
    Agent,
    Alert,
    ApiToken,
    Assignment,
    ClientRequest,
    Device,
    MessageRecipient,
    Movement,
    OnCallShift,
    PersonOfInterest,
    Principal,
    Removal,
    Risk,
    Site,
    StatusCode,
    Survey,
    SurveyPhoto,
    TeamMessage,
    TextMessage,
    Unavailability,
    User,
    Visit,
)
from detail.web.auth import issue_token

from .conftest import FreshContextSocket, build_world, make_app, sign_in

# --- outcomes and roles -------------------------------------------------------------------------

ALLOWED, SIGN_IN, UNAUTHORIZED, FORBIDDEN, NOT_FOUND = "allowed", "sign-in", "401", "403", "404"

ROLES = ("admin", "coordinator", "agent", "client", "other_client", "other_org", "anonymous")
# The account role behind each caller. The "other_" callers are outsiders to the ids in the URLs:
# other_client is a contact of another client of world.org, other_org a coordinator of another firm.
ACCOUNT_ROLE = {
    "admin": "admin",
    "coordinator": "coordinator",
    "agent": "agent",
    "client": "client",
    "other_client": "client",
    "other_org": "coordinator",
    "anonymous": None,
}
OUTSIDERS = {"other_client", "other_org"}
STAFF = frozenset({"admin", "coordinator"})

# A detail's internal notes: only the organisation's staff may ever see them.
NOTES = "INTERNAL-NOTE-5z9 principal allergic to penicillin"


# --- who may use what ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    """Who may use a route, how callers authenticate, and how the route refuses."""

    roles: frozenset[str] = frozenset()  # account roles let in; anyone else signed in gets 403
    token: bool = False  # bearer token (the API), never the session
    json: bool = False  # speaks JSON: anonymous callers get 401, not a redirect to sign-in
    public: bool = False  # nobody needs to sign in
    anonymous: str = ALLOWED  # a public route's answer to anonymous callers
    everyone: str | None = None  # one answer whoever calls
    signed_in: str | None = None  # one answer for whoever is signed in (anonymous callers sign in first)


PUBLIC = Access(public=True)
LANDING = Access(public=True, anonymous=SIGN_IN)  # each role to its home, anonymous to sign-in
SIGN_OUT = Access(public=True, everyone=SIGN_IN)  # signing out always lands on the sign-in page
STAFF_PAGE = Access(STAFF)
SIGNED_IN_PAGE = Access(frozenset(r for r in ACCOUNT_ROLE.values() if r))  # every account, its own account page
STAFF_JSON = Access(STAFF, json=True)
LEAD_JSON = Access(STAFF | {"agent"}, json=True)  # an agent only as the detail's lead (world.agent_user is)
AGENT_PAGE = Access(frozenset({"agent"}))
TEAM_JSON = Access(STAFF | {"agent"}, json=True)  # the person's own rows only (test_push)
REACHABLE_PAGE = Access(STAFF | {"agent"})  # alarms reach staff and agents, never clients' contacts
AGENT_JSON = Access(frozenset({"agent"}), json=True)
CLIENT_PAGE = Access(frozenset({"client"}))
API_STAFF = Access(STAFF, token=True)
API_AGENT = Access(frozenset({"agent"}), token=True)
API_STAFF_AND_AGENT = Access(STAFF | {"agent"}, token=True)  # an agent only his own assignments
SURVEY_PAGE = Access(STAFF | {"agent"})  # an agent only on the survey's detail
MESSAGES_JSON = Access(STAFF | {"agent"}, json=True)  # an agent only messages he sent or received
BY_SECRET = Access(public=True, everyone=NOT_FOUND)  # the matrix holds no valid secret (test_portal does)
# An alarm's acknowledge link: sign in first; the matrix holds no valid link (test_escalation_ack does).
BY_LINK = Access(frozenset(r for r in ACCOUNT_ROLE.values() if r), signed_in=NOT_FOUND)

ROUTES: dict[tuple[str, str], Access] = {
    ("GET", "/"): LANDING,
    ("GET", "/favicon.ico"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): SIGN_OUT,
    ("GET", "/account"): SIGNED_IN_PAGE,
    ("POST", "/account/password"): SIGNED_IN_PAGE,
    ("POST", "/account/sign-out-everywhere"): SIGN_OUT,
    ("POST", "/account/sessions/sign-out"): SIGNED_IN_PAGE,  # another account's session is not found (test_auth)
    # Each person's own channels, named in the body: another's is not found (test_contacts).
    ("GET", "/account/contacts"): REACHABLE_PAGE,
    ("POST", "/account/contacts"): REACHABLE_PAGE,
    ("POST", "/account/contacts/send"): REACHABLE_PAGE,
    ("POST", "/account/contacts/verify"): REACHABLE_PAGE,
    ("POST", "/account/contacts/remove"): REACHABLE_PAGE,
    ("GET", "/static/<path:filename>"): PUBLIC,
    # The API's description, not its data: every operation it lists still needs a token.
    ("GET", "/api/v1/openapi.json"): PUBLIC,
    # client contacts
    ("GET", "/portal"): CLIENT_PAGE,
    ("GET", "/portal/details/<int:detail_id>"): CLIENT_PAGE,
    ("GET", "/portal/advisories"): CLIENT_PAGE,
    ("GET", "/portal/digests"): CLIENT_PAGE,
    ("GET", "/portal/preferences"): CLIENT_PAGE,
    ("POST", "/portal/preferences"): CLIENT_PAGE,
    ("GET", "/portal/preferences/feed"): CLIENT_PAGE,  # the question, asked before replacing a working URL
    ("POST", "/portal/preferences/feed"): CLIENT_PAGE,
    ("GET", "/portal/preferences/feed/revoke"): CLIENT_PAGE,  # the question, asked before revoking
    ("POST", "/portal/preferences/feed/revoke"): CLIENT_PAGE,
    ("GET", "/portal/requests"): CLIENT_PAGE,
    ("POST", "/portal/requests"): CLIENT_PAGE,
    ("GET", "/portal/requests/<int:request_id>"): CLIENT_PAGE,
    # the secret in the URL is the credential: a wrong one is "not found" for everyone
    ("GET", "/portal/feed/<secret>.atom"): BY_SECRET,
    ("GET", "/portal/unsubscribe/<token>"): BY_SECRET,
    ("POST", "/portal/unsubscribe/<token>"): BY_SECRET,
    # agents' phone page; its manifest and service worker are fetched before any sign-in
    ("GET", "/phone/"): AGENT_PAGE,
    ("GET", "/phone/manifest.webmanifest"): PUBLIC,
    ("GET", "/phone/sw.js"): PUBLIC,
    # Web Push on the phone and the board: the team's own devices, never a client contact's
    ("GET", "/push/key"): TEAM_JSON,
    ("POST", "/push/subscriptions"): TEAM_JSON,
    ("DELETE", "/push/subscriptions"): TEAM_JSON,
    ("GET", "/push/sw.js"): PUBLIC,
    ("GET", "/phone/state"): AGENT_JSON,
    ("POST", "/phone/status"): AGENT_JSON,
    ("POST", "/phone/position"): AGENT_JSON,
    ("POST", "/phone/calendar"): AGENT_PAGE,
    # only the detail's lead (world.agent_user is): another agent's or client's detail is not found
    ("GET", "/phone/details/<int:detail_id>"): AGENT_PAGE,  # the detail file, for its lead only
    ("GET", "/phone/details/<int:detail_id>/handoff"): AGENT_PAGE,
    ("POST", "/phone/details/<int:detail_id>/handoff"): AGENT_PAGE,
    # an agent's calendar: the secret in the URL is the credential
    ("GET", "/calendar/<secret>.ics"): BY_SECRET,
    # agents' own apps authenticate as those apps can, never with a session: OwnTracks with a token
    # (none here: 401), Traccar Client and GPSLogger with a bound device id (this one is not: 403),
    # the SMS gateway with its signature (none here: 403)
    ("POST", "/ingest/owntracks"): Access(public=True, everyone=UNAUTHORIZED),
    ("GET", "/ingest/osmand"): Access(public=True, everyone=FORBIDDEN),
    ("POST", "/ingest/osmand"): Access(public=True, everyone=FORBIDDEN),
    ("GET", "/ingest/gpslogger"): Access(public=True, everyone=FORBIDDEN),
    ("POST", "/ingest/gpslogger"): Access(public=True, everyone=FORBIDDEN),
    ("POST", "/ingest/sms"): Access(public=True, everyone=FORBIDDEN),
    # the text provider's delivery reports, signed with its auth token (none here: 403)
    ("POST", "/ingest/sms/status"): Access(public=True, everyone=FORBIDDEN),
    # coordinators' board
    ("GET", "/board/"): STAFF_PAGE,
    ("GET", "/board/details/<int:detail_id>"): STAFF_PAGE,
    ("GET", "/board/state"): STAFF_JSON,
    ("GET", "/board/details/<int:detail_id>/state"): STAFF_JSON,
    ("POST", "/board/details/<int:detail_id>/state"): LEAD_JSON,
    ("POST", "/board/alerts/<int:alert_id>/acknowledge"): STAFF_JSON,
    ("POST", "/board/alerts/<int:alert_id>/mute"): STAFF_JSON,
    ("POST", "/board/requests/<int:request_id>/acknowledge"): STAFF_JSON,
    # team messages: coordinators their organisation's; an agent those he sent or received, his own receipts
    ("GET", "/messages/"): MESSAGES_JSON,
    ("POST", "/messages/"): MESSAGES_JSON,
    ("POST", "/messages/<int:message_id>/delivered"): AGENT_JSON,
    ("POST", "/messages/<int:message_id>/read"): AGENT_JSON,
    ("POST", "/messages/<int:message_id>/acknowledge"): AGENT_JSON,
    ("POST", "/messages/<int:message_id>/texts"): STAFF_JSON,
    ("GET", "/api/v1/messages"): API_STAFF_AND_AGENT,
    ("POST", "/api/v1/messages"): API_STAFF_AND_AGENT,
    ("GET", "/api/v1/messages/<int:message_id>"): API_STAFF_AND_AGENT,
    ("POST", "/api/v1/messages/<int:message_id>/delivered"): API_AGENT,
    ("POST", "/api/v1/messages/<int:message_id>/read"): API_AGENT,
    ("POST", "/api/v1/messages/<int:message_id>/acknowledge"): API_AGENT,
    ("POST", "/api/v1/messages/<int:message_id>/texts"): API_STAFF,
    # the API's exceptions to "staff only"
    ("POST", "/api/v1/status"): API_AGENT,
    ("POST", "/api/v1/positions"): API_AGENT,
    ("GET", "/api/v1/assignments"): API_STAFF_AND_AGENT,
    ("GET", "/api/v1/assignments/<int:assignment_id>"): API_STAFF_AND_AGENT,
    # what the client may read of a survey: coordinators decide
    ("POST", "/surveys/<int:survey_id>/summary"): STAFF_PAGE,
    # intel: made-up demo items, served so that the demo's feeds need no internet
    ("GET", "/intel/samples/<name>.xml"): PUBLIC,
    # site surveys: coordinators, and the detail's agents (world.agent_user leads world.detail, so he
    # may also review; the survey module refuses agents who are not on the detail)
    ("GET", "/surveys/<int:survey_id>"): SURVEY_PAGE,
    ("POST", "/surveys/<int:survey_id>"): SURVEY_PAGE,
    ("POST", "/surveys/<int:survey_id>/photos"): SURVEY_PAGE,
    ("POST", "/surveys/<int:survey_id>/review"): SURVEY_PAGE,
    ("GET", "/surveys/details/<int:detail_id>"): SURVEY_PAGE,
    ("POST", "/surveys/details/<int:detail_id>/sites/<int:site_id>/start"): SURVEY_PAGE,
    ("GET", "/surveys/photos/<int:photo_id>"): SURVEY_PAGE,
    # coordinators' pages
    ("GET", "/admin/"): STAFF_PAGE,
    ("GET", "/admin/after-action/items/<int:item_id>/delete"): STAFF_PAGE,
    ("POST", "/admin/after-action/items/<int:item_id>/delete"): STAFF_PAGE,
    ("POST", "/admin/after-action/items/<int:item_id>/toggle"): STAFF_PAGE,
    ("GET", "/admin/agents"): STAFF_PAGE,
    ("GET", "/admin/agents/<int:agent_id>/availability"): STAFF_PAGE,
    ("POST", "/admin/agents/<int:agent_id>/availability"): STAFF_PAGE,
    ("GET", "/admin/agents/<int:agent_id>/availability/<int:period_id>/delete"): STAFF_PAGE,
    ("POST", "/admin/agents/<int:agent_id>/availability/<int:period_id>/delete"): STAFF_PAGE,
    ("GET", "/admin/agents/<int:agent_id>/calendar"): STAFF_PAGE,
    ("POST", "/admin/agents/<int:agent_id>/calendar"): STAFF_PAGE,
    ("GET", "/admin/agents/<int:agent_id>/calendar/revoke"): STAFF_PAGE,
    ("POST", "/admin/agents/<int:agent_id>/calendar/revoke"): STAFF_PAGE,
    ("GET", "/admin/agents/<int:agent_id>/edit"): STAFF_PAGE,
    ("POST", "/admin/agents/<int:agent_id>/edit"): STAFF_PAGE,
    ("GET", "/admin/agents/<int:agent_id>/history"): STAFF_PAGE,
    ("GET", "/admin/agents/new"): STAFF_PAGE,
    ("POST", "/admin/agents/new"): STAFF_PAGE,
    ("GET", "/admin/clients"): STAFF_PAGE,
    ("GET", "/admin/clients/<int:client_id>"): STAFF_PAGE,
    ("POST", "/admin/clients/<int:client_id>/contacts"): STAFF_PAGE,
    ("GET", "/admin/clients/<int:client_id>/contacts/<int:user_id>/edit"): STAFF_PAGE,
    ("POST", "/admin/clients/<int:client_id>/contacts/<int:user_id>/edit"): STAFF_PAGE,
    ("GET", "/admin/clients/<int:client_id>/edit"): STAFF_PAGE,
    ("POST", "/admin/clients/<int:client_id>/edit"): STAFF_PAGE,
    ("POST", "/admin/clients/<int:client_id>/principals"): STAFF_PAGE,
    ("GET", "/admin/clients/<int:client_id>/principals/<int:principal_id>/edit"): STAFF_PAGE,
    ("POST", "/admin/clients/<int:client_id>/principals/<int:principal_id>/edit"): STAFF_PAGE,
    ("GET", "/admin/clients/new"): STAFF_PAGE,
    ("POST", "/admin/clients/new"): STAFF_PAGE,
    ("GET", "/admin/codes"): STAFF_PAGE,
    ("GET", "/admin/codes/<int:code_id>/edit"): STAFF_PAGE,
    ("POST", "/admin/codes/<int:code_id>/edit"): STAFF_PAGE,
    ("GET", "/admin/codes/new"): STAFF_PAGE,
    ("POST", "/admin/codes/new"): STAFF_PAGE,
    ("GET", "/admin/details"): STAFF_PAGE,
    ("GET", "/admin/details/<int:detail_id>"): STAFF_PAGE,
    ("GET", "/admin/details/<int:detail_id>/after-action"): STAFF_PAGE,
    ("POST", "/admin/details/<int:detail_id>/after-action"): STAFF_PAGE,
    ("GET", "/admin/details/<int:detail_id>/after-action.pdf"): STAFF_PAGE,
    ("POST", "/admin/details/<int:detail_id>/after-action/items"): STAFF_PAGE,
    ("POST", "/admin/details/<int:detail_id>/assignments"): STAFF_PAGE,
    ("GET", "/admin/details/<int:detail_id>/assignments/<int:assignment_id>/delete"): STAFF_PAGE,
    ("POST", "/admin/details/<int:detail_id>/assignments/<int:assignment_id>/delete"): STAFF_PAGE,
    ("GET", "/admin/details/<int:detail_id>/assignments/<int:assignment_id>/edit"): STAFF_PAGE,
    ("POST", "/admin/details/<int:detail_id>/assignments/<int:assignment_id>/edit"): STAFF_PAGE,
    ("GET", "/admin/details/<int:detail_id>/edit"): STAFF_PAGE,
    ("POST", "/admin/details/<int:detail_id>/edit"): STAFF_PAGE,
    ("GET", "/admin/details/<int:detail_id>/handoff"): STAFF_PAGE,
    ("POST", "/admin/details/<int:detail_id>/handoff"): STAFF_PAGE,
    ("POST", "/admin/details/<int:detail_id>/movements"): STAFF_PAGE,
    ("POST", "/admin/details/<int:detail_id>/removals/<int:removal_id>/undo"): STAFF_PAGE,
    ("GET", "/admin/details/<int:detail_id>/state"): STAFF_PAGE,
    ("POST", "/admin/details/<int:detail_id>/state"): STAFF_PAGE,
    ("GET", "/admin/details/<int:detail_id>/movements/<int:movement_id>/delete"): STAFF_PAGE,
    ("POST", "/admin/details/<int:detail_id>/movements/<int:movement_id>/delete"): STAFF_PAGE,
    ("GET", "/admin/details/<int:detail_id>/movements/<int:movement_id>/edit"): STAFF_PAGE,
    ("POST", "/admin/details/<int:detail_id>/movements/<int:movement_id>/edit"): STAFF_PAGE,
    ("POST", "/admin/details/<int:detail_id>/visits"): STAFF_PAGE,
    ("GET", "/admin/details/<int:detail_id>/visits/<int:visit_id>/delete"): STAFF_PAGE,
    ("POST", "/admin/details/<int:detail_id>/visits/<int:visit_id>/delete"): STAFF_PAGE,
    ("GET", "/admin/details/<int:detail_id>/visits/<int:visit_id>/edit"): STAFF_PAGE,
    ("POST", "/admin/details/<int:detail_id>/visits/<int:visit_id>/edit"): STAFF_PAGE,
    ("GET", "/admin/details/new"): STAFF_PAGE,
    ("POST", "/admin/details/new"): STAFF_PAGE,
    ("GET", "/admin/devices"): STAFF_PAGE,
    ("POST", "/admin/devices"): STAFF_PAGE,
    ("GET", "/admin/devices/<int:device_id>/unbind"): STAFF_PAGE,
    ("POST", "/admin/devices/<int:device_id>/unbind"): STAFF_PAGE,
    ("GET", "/admin/lessons"): STAFF_PAGE,
    ("GET", "/admin/persons"): STAFF_PAGE,
    ("GET", "/admin/persons/<int:person_id>/delete"): STAFF_PAGE,
    ("POST", "/admin/persons/<int:person_id>/delete"): STAFF_PAGE,
    ("GET", "/admin/persons/<int:person_id>/edit"): STAFF_PAGE,
    ("POST", "/admin/persons/<int:person_id>/edit"): STAFF_PAGE,
    ("GET", "/admin/persons/new"): STAFF_PAGE,
    ("POST", "/admin/persons/new"): STAFF_PAGE,
    ("GET", "/admin/requests"): STAFF_PAGE,
    ("GET", "/admin/requests/<int:request_id>"): STAFF_PAGE,
    ("POST", "/admin/requests/<int:request_id>/acknowledge"): STAFF_PAGE,
    ("POST", "/admin/requests/<int:request_id>/answer"): STAFF_PAGE,
    ("GET", "/admin/requests/figures"): STAFF_PAGE,
    ("GET", "/admin/requests/new"): STAFF_PAGE,
    ("POST", "/admin/requests/new"): STAFF_PAGE,
    ("GET", "/admin/risks"): STAFF_PAGE,
    ("GET", "/admin/risks/<int:risk_id>/delete"): STAFF_PAGE,
    ("POST", "/admin/risks/<int:risk_id>/delete"): STAFF_PAGE,
    ("GET", "/admin/risks/<int:risk_id>/edit"): STAFF_PAGE,
    ("POST", "/admin/risks/<int:risk_id>/edit"): STAFF_PAGE,
    ("GET", "/admin/risks/new"): STAFF_PAGE,
    ("POST", "/admin/risks/new"): STAFF_PAGE,
    ("GET", "/admin/settings"): STAFF_PAGE,
    ("GET", "/admin/escalation"): STAFF_PAGE,
    ("GET", "/admin/escalation/<kind>"): STAFF_PAGE,
    ("POST", "/admin/escalation/<kind>"): STAFF_PAGE,
    ("GET", "/ack/<token>"): BY_LINK,
    ("POST", "/ack/<token>"): BY_LINK,
    ("POST", "/admin/settings"): STAFF_PAGE,
    ("GET", "/admin/sites"): STAFF_PAGE,
    ("GET", "/admin/sites/<int:site_id>/edit"): STAFF_PAGE,
    ("POST", "/admin/sites/<int:site_id>/edit"): STAFF_PAGE,
    ("GET", "/admin/sites/new"): STAFF_PAGE,
    ("POST", "/admin/sites/new"): STAFF_PAGE,
    ("GET", "/admin/on-call"): STAFF_PAGE,
    ("POST", "/admin/on-call"): STAFF_PAGE,
    ("GET", "/admin/on-call/now"): STAFF_PAGE,
    ("GET", "/admin/on-call/<int:shift_id>/edit"): STAFF_PAGE,
    ("POST", "/admin/on-call/<int:shift_id>/edit"): STAFF_PAGE,
    ("GET", "/admin/on-call/<int:shift_id>/remove"): STAFF_PAGE,
    ("POST", "/admin/on-call/<int:shift_id>/remove"): STAFF_PAGE,
    ("GET", "/admin/tokens"): STAFF_PAGE,
    ("POST", "/admin/tokens"): STAFF_PAGE,
    ("GET", "/admin/tokens/<int:token_id>/revoke"): STAFF_PAGE,
    ("POST", "/admin/tokens/<int:token_id>/revoke"): STAFF_PAGE,
    ("GET", "/admin/texts"): STAFF_PAGE,
    ("GET", "/admin/texts/<int:text_id>/resend"): STAFF_PAGE,
    ("POST", "/admin/texts/<int:text_id>/resend"): STAFF_PAGE,
    # intel: feeds, rules, the review queue, watch areas and digests are coordinators' work
    ("GET", "/intel/advisories"): STAFF_PAGE,
    ("POST", "/intel/advisories/<int:advisory_id>/dismiss"): STAFF_PAGE,
    ("POST", "/intel/advisories/<int:advisory_id>/merge"): STAFF_PAGE,
    ("POST", "/intel/advisories/<int:advisory_id>/publish"): STAFF_PAGE,
    ("GET", "/intel/clients/<int:client_id>/watch-areas"): STAFF_PAGE,
    ("POST", "/intel/clients/<int:client_id>/watch-areas"): STAFF_PAGE,
    ("GET", "/intel/clients/<int:client_id>/watch-areas/<int:area_id>/delete"): STAFF_PAGE,
    ("POST", "/intel/clients/<int:client_id>/watch-areas/<int:area_id>/delete"): STAFF_PAGE,
    ("GET", "/intel/digests"): STAFF_PAGE,
    ("GET", "/intel/digests/<int:user_id>/preview"): STAFF_PAGE,
    ("POST", "/intel/digests/<int:user_id>/send"): STAFF_PAGE,
    ("POST", "/intel/digests/resend/<int:digest_id>"): STAFF_PAGE,
    ("GET", "/intel/feeds"): STAFF_PAGE,
    ("POST", "/intel/feeds"): STAFF_PAGE,
    ("POST", "/intel/feeds/<int:feed_id>/poll"): STAFF_PAGE,
    ("POST", "/intel/feeds/<int:feed_id>/toggle"): STAFF_PAGE,
    ("GET", "/intel/near"): STAFF_PAGE,
    ("GET", "/intel/rules"): STAFF_PAGE,
    ("POST", "/intel/rules"): STAFF_PAGE,
    ("POST", "/intel/rules/<int:rule_id>/toggle"): STAFF_PAGE,
    # the API: staff tokens only, unless listed above as an exception
    ("GET", "/api/v1/advisories"): API_STAFF,
    ("POST", "/api/v1/advisories/<int:advisory_id>/dismiss"): API_STAFF,
    ("POST", "/api/v1/advisories/<int:advisory_id>/publish"): API_STAFF,
    ("GET", "/api/v1/agents"): API_STAFF,
    ("POST", "/api/v1/agents"): API_STAFF,
    ("GET", "/api/v1/agents/<int:agent_id>"): API_STAFF,
    ("PATCH", "/api/v1/agents/<int:agent_id>"): API_STAFF,
    ("POST", "/api/v1/assignments"): API_STAFF,
    ("DELETE", "/api/v1/assignments/<int:assignment_id>"): API_STAFF,
    ("PATCH", "/api/v1/assignments/<int:assignment_id>"): API_STAFF,
    ("GET", "/api/v1/clients"): API_STAFF,
    ("POST", "/api/v1/clients"): API_STAFF,
    ("GET", "/api/v1/clients/<int:client_id>"): API_STAFF,
    ("PATCH", "/api/v1/clients/<int:client_id>"): API_STAFF,
    ("GET", "/api/v1/details"): API_STAFF,
    ("POST", "/api/v1/details"): API_STAFF,
    ("GET", "/api/v1/details/<int:detail_id>"): API_STAFF,
    ("PATCH", "/api/v1/details/<int:detail_id>"): API_STAFF,
    ("GET", "/api/v1/details/<int:detail_id>/board"): API_STAFF,
    ("GET", "/api/v1/devices"): API_STAFF,
    ("POST", "/api/v1/devices"): API_STAFF,
    ("DELETE", "/api/v1/devices/<int:device_id>"): API_STAFF,
    ("GET", "/api/v1/devices/<int:device_id>"): API_STAFF,
    ("GET", "/api/v1/events"): API_STAFF,
    ("GET", "/api/v1/on-call"): API_STAFF,
    ("POST", "/api/v1/on-call/shifts"): API_STAFF,
    ("GET", "/api/v1/on-call/shifts/<int:shift_id>"): API_STAFF,
    ("DELETE", "/api/v1/on-call/shifts/<int:shift_id>"): API_STAFF,
    ("GET", "/api/v1/feeds"): API_STAFF,
    ("POST", "/api/v1/feeds"): API_STAFF,
    ("GET", "/api/v1/items"): API_STAFF,
    ("GET", "/api/v1/movements"): API_STAFF,
    ("POST", "/api/v1/movements"): API_STAFF,
    ("DELETE", "/api/v1/movements/<int:movement_id>"): API_STAFF,
    ("GET", "/api/v1/movements/<int:movement_id>"): API_STAFF,
    ("PATCH", "/api/v1/movements/<int:movement_id>"): API_STAFF,
    ("GET", "/api/v1/principals"): API_STAFF,
    ("POST", "/api/v1/principals"): API_STAFF,
    ("GET", "/api/v1/principals/<int:principal_id>"): API_STAFF,
    ("PATCH", "/api/v1/principals/<int:principal_id>"): API_STAFF,
    ("GET", "/api/v1/venues"): API_STAFF,
    ("POST", "/api/v1/venues"): API_STAFF,
    ("GET", "/api/v1/venues/<int:venue_id>"): API_STAFF,
    ("PATCH", "/api/v1/venues/<int:venue_id>"): API_STAFF,
    ("GET", "/api/v1/visits"): API_STAFF,
    ("POST", "/api/v1/visits"): API_STAFF,
    ("DELETE", "/api/v1/visits/<int:visit_id>"): API_STAFF,
    ("GET", "/api/v1/visits/<int:visit_id>"): API_STAFF,
    ("PATCH", "/api/v1/visits/<int:visit_id>"): API_STAFF,
}
# What a call sends beyond an empty body, where that is needed to reach the access checks:
# a query string a list cannot do without, or a body validated before the row is looked up
# (else a foreign id would get 422 before it could get its 404).
QUERIES = {
    ("GET", "/api/v1/items"): "?near=51.5101,-0.1340",
    ("GET", "/ingest/osmand"): "?id=unbound-device&lat=51.5101&lon=-0.1340",
    ("POST", "/ingest/osmand"): "?id=unbound-device&lat=51.5101&lon=-0.1340",
    ("GET", "/ingest/gpslogger"): "?device=unbound-device&lat=51.5101&lon=-0.1340",
    ("POST", "/ingest/gpslogger"): "?device=unbound-device&lat=51.5101&lon=-0.1340",
}
BODIES = {
    ("POST", "/api/v1/advisories/<int:advisory_id>/publish"): {"summary": "Expect crowds", "recommendation": "Delay"},
    ("POST", "/api/v1/advisories/<int:advisory_id>/dismiss"): {"reason": "Not near the route"},
}

# Access bugs found by this matrix, as {(method, rule, role[, variant]): reason}; each case is xfail(strict).
KNOWN_BUGS: dict[tuple[str, ...], str] = {}


def classify(rule: str, method: str) -> Access | None:
    return ROUTES.get((method, rule))


def expected(access: Access, role: str, with_ids: bool) -> str:
    """The one outcome the role must get from a route with this access (ids of world.org's rows)."""
    if access.everyone:
        return access.everyone
    if role == "anonymous":
        if access.public:
            return access.anonymous
        return UNAUTHORIZED if access.token or access.json else SIGN_IN
    if access.signed_in:
        return access.signed_in
    if access.public:
        return ALLOWED
    if ACCOUNT_ROLE[role] not in access.roles:
        return FORBIDDEN
    return NOT_FOUND if with_ids and role in OUTSIDERS else ALLOWED


# --- the routes ---------------------------------------------------------------------------------

IGNORED_METHODS = {"HEAD", "OPTIONS"}
BODY_METHODS = {"POST", "PUT", "PATCH"}
PARAMETER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def app_routes(app: Flask) -> list[tuple[str, str]]:
    """(rule, method) for every rule of the app."""
    return sorted(
        {(rule.rule, method) for rule in app.url_map.iter_rules() for method in rule.methods - IGNORED_METHODS}
    )


def _collect_routes() -> tuple[list[tuple[str, str]], Exception | None]:
    # Parametrizing needs the rules at collection time: an app built only to read its url_map
    # (create_app writes nothing and opens no database). An app that does not build is reported
    # by test_every_route_is_classified rather than as a collection error that stops the whole run.
    try:
        with tempfile.TemporaryDirectory() as folder:
            return app_routes(make_app(Path(folder))), None
    except Exception as exc:
        return [], exc


RULES, RULES_ERROR = _collect_routes()


def id_params(rule: str) -> list[str]:
    """The rule's parameters that name rows (the int ones), in order."""
    return [name for converter, name in PARAMETER.findall(rule) if converter == "int"]


def url_for_rule(rule: str, values: dict) -> str:
    def fill(match):
        name = match.group(2)
        if name not in values:
            pytest.fail(f"no value for <{name}> in {rule}: add one to the ids built in _populate()")
        return str(values[name])

    return PARAMETER.sub(fill, rule)


def pretty(rule: str) -> str:
    return PARAMETER.sub(r"<\2>", rule)


def _marks(key: tuple[str, ...]) -> list:
    reason = KNOWN_BUGS.get(key)
    return [pytest.mark.xfail(strict=True, reason=reason)] if reason else []


# --- the world, built once and restored before each case -----------------------------------------


@dataclass
class Matrix:
    app: Flask
    database: Path
    snapshot: Path
    users: dict[str, int]  # role -> user id
    tokens: dict[str, str]  # role -> bearer token
    ids: dict[str, dict]  # "own", "other_client", "other_org" -> {url parameter: value}
    names: dict[str, tuple[str, ...]]  # "org", "client", "other_client", "other_org" -> names of their rows

    def restore(self) -> None:
        """Put the database back as it was after _populate (a case may have deleted or revoked rows)."""
        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()
        source, target = sqlite3.connect(self.snapshot), sqlite3.connect(self.database)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()


def _token_row(plaintext: str) -> ApiToken:
    return db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(plaintext)))


def _intel_rows(world) -> dict[str, tuple[dict, tuple[str, ...]]]:
    """Per organisation, a feed, a classification rule and an advisory: {key: (ids, names)}."""
    from intel.models import Advisory, ClassificationRule, Digest, Feed, WatchArea

    rows = {}
    for key, organisation, detail in (
        ("own", world.org, world.detail),
        ("other_org", world.other_org, world.other_org_detail),
    ):
        label = "Aegis" if key == "own" else "Fabrikam"
        feed = Feed(organisation_id=organisation.id, url=f"https://feeds.example/{key}.xml", name=f"{label} Wire")
        rule = ClassificationRule(organisation_id=organisation.id, category="protest", pattern="march")
        advisory = Advisory(
            organisation_id=organisation.id,
            detail_id=detail.id,
            title=f"{label} march on the route",
            category="protest",
            severity="moderate",
            reason="within 300 m of the venue",
            starts_at=detail.starts_at,
            ends_at=detail.ends_at,
        )
        area = WatchArea(client_id=detail.client_id, name=f"{label} office", latitude=51.5, longitude=-0.1)
        contact = db.session.scalar(sa.select(User).where(User.client_id == detail.client_id).limit(1))
        digest = (
            Digest(
                user=contact,
                cadence="daily",
                email=contact.email,
                subject=f"{label} digest",
                message_id=f"<{key}@matrix.example>",
                status="uncertain",
            )
            if contact
            else None
        )
        db.session.add_all([feed, rule, advisory, area, *([digest] if digest else [])])
        db.session.flush()
        ids = {"feed_id": feed.id, "rule_id": rule.id, "advisory_id": advisory.id, "area_id": area.id}
        if digest is not None:
            ids["digest_id"] = digest.id
        rows[key] = (ids, (feed.name, advisory.title))
    return rows


def _populate(world) -> dict:
    """Add to the conftest world what every route needs: notes, an alert, a token, and rows of the
    other client and of the other organisation for each kind of id; return ids, tokens and names."""
    # Rows are added together at the end: no autoflush may catch one half-attached to the world.
    with db.session.no_autoflush:
        world.detail.notes = NOTES
        idle_agent = world.idle_agent_user.agent
        alert = Alert(
            organisation_id=world.org.id, detail=world.detail, agent=world.agent, kind="late_om", message="No OM yet"
        )
        revocable = issue_token(world.agent_user, "revocable")

        # Another client of the same organisation: its principal and itinerary, and an agent who is not ours.
        other = world.other_client_detail
        oc_principal = Principal(client=world.other_client, name="Carl Contoso", code_name="FALCON")
        oc_visit = Visit(
            detail=other, site=world.hotel, arrives_at=other.starts_at, departs_at=other.starts_at + timedelta(hours=1)
        )
        oc_movement = Movement(
            detail=other,
            from_site=world.hotel,
            to_site=world.venue,
            departs_at=other.starts_at + timedelta(hours=1),
            arrives_at=other.starts_at + timedelta(hours=2),
        )
        oc_assignment = Assignment(
            detail=other,
            agent=idle_agent,
            role="agent",
            report_at=other.starts_at,
            shift_starts_at=other.starts_at,
            shift_ends_at=other.ends_at,
        )

        # The other organisation: one row of every kind.
        rival = world.other_org_detail
        rival_org, rival_client, rival_site = world.other_org, rival.client, rival.visits[0].site
        rival_annex = Site(organisation=rival_org, name="Rival Annex", latitude=40.71, longitude=-74.01)
        rival_principal = Principal(client=rival_client, name="Rita Fabrikam", code_name="MAGPIE")
        rival_user = User(organisation=rival_org, email="agent@rival.example", name="Rex Rival", role="agent")
        rival_agent = Agent(organisation=rival_org, user=rival_user, call_sign="Tango 7")
        rival_contact = User(
            organisation=rival_org,
            email="security@fabrikam.example",
            name="Fay Fabrikam",
            role="client",
            client=rival_client,
        )
        rival_movement = Movement(
            detail=rival,
            from_site=rival_site,
            to_site=rival_annex,
            departs_at=rival.starts_at + timedelta(hours=2),
            arrives_at=rival.starts_at + timedelta(hours=3),
        )
        rival_assignment = Assignment(
            detail=rival,
            agent=rival_agent,
            role="detail_lead",
            site=rival_site,
            report_at=rival.starts_at - timedelta(minutes=30),
            shift_starts_at=rival.starts_at - timedelta(hours=1),
            shift_ends_at=rival.ends_at,
        )
        rival_alert = Alert(
            organisation_id=rival_org.id, detail=rival, agent=rival_agent, kind="late_om", message="Late"
        )
        rival_token = issue_token(world.other_org_coordinator, "rival laptop")
        own_device = Device(
            organisation_id=world.org.id, agent=world.agent, kind="device", identifier="aegis-traccar-1"
        )
        rival_device = Device(
            organisation_id=rival_org.id, agent=rival_agent, kind="device", identifier="rival-traccar-7"
        )
        idle_leave = Unavailability(
            agent=idle_agent,
            kind="leave",
            starts_at=world.detail.ends_at,
            ends_at=world.detail.ends_at + timedelta(days=1),
        )
        own_leave = Unavailability(
            agent=world.agent,
            kind="leave",
            starts_at=world.detail.ends_at,
            ends_at=world.detail.ends_at + timedelta(days=2),
        )
        own_risk = Risk(
            client=world.client,
            title="Aegis risk: hostile ex-employee",
            likelihood=2,
            impact=4,
            review_on=date(2026, 11, 1),
        )
        rival_risk = Risk(
            client=rival_client, title="Fabrikam risk: stalker", likelihood=3, impact=5, review_on=date(2026, 12, 1)
        )
        own_person = PersonOfInterest(client=world.client, name="Aegis POI Victor Vane", assessment="elevated")
        rival_person = PersonOfInterest(client=rival_client, name="Fabrikam POI Rex Rook", assessment="monitor")
        own_request = ClientRequest(client=world.client, contact=world.contact, subject="Aegis request: protests?")
        oc_request = ClientRequest(client=world.other_client, contact=world.other_contact, subject="Contoso request")
        rival_request = ClientRequest(client=rival_client, subject="Fabrikam request: route?")
        own_after = AfterAction(detail=world.detail, lessons="Aegis lesson")
        own_item = ActionItem(after_action=own_after, text="Aegis action", due_on=date(2026, 12, 1))
        rival_after = AfterAction(detail=rival, lessons="Fabrikam lesson")
        rival_item = ActionItem(after_action=rival_after, text="Fabrikam action", due_on=date(2026, 12, 1))
        spare_site = Site(organisation=world.org, name="Spare yard", latitude=51.52, longitude=-0.1)
        oc_survey = Survey(detail=other, site=world.hotel, safe_room="Contoso safe room")
        oc_photo = SurveyPhoto(survey=oc_survey, content_type="image/png", data=b"\x89PNG\r\n\x1a\n")
        own_survey = Survey(detail=world.detail, site=world.hotel, safe_room="Aegis safe room: suite 12")
        own_photo = SurveyPhoto(survey=own_survey, content_type="image/png", data=b"\x89PNG\r\n\x1a\n")
        rival_survey = Survey(detail=rival, site=rival_site, safe_room="Fabrikam safe room")
        rival_photo = SurveyPhoto(survey=rival_survey, content_type="image/png", data=b"\x89PNG\r\n\x1a\n")
        own_removal, oc_removal, rival_removal = (
            Removal(detail=d, kind="visit", summary=f"the visit to {d.name}", rows={"visit": []})
            for d in (world.detail, other, rival)
        )
        rival_leave = Unavailability(
            agent=rival_agent, kind="training", starts_at=rival.ends_at, ends_at=rival.ends_at + timedelta(days=1)
        )
        db.session.add_all(
            [alert, oc_principal, oc_visit, oc_movement, oc_assignment, rival_annex, rival_principal, rival_agent]
        )
        own_shift, rival_shift = (
            OnCallShift(
                organisation_id=organisation.id,
                user=user,
                role="primary",
                starts_at=world.detail.starts_at,
                ends_at=world.detail.ends_at,
            )
            for organisation, user in ((world.org, world.coordinator), (rival_org, world.other_org_coordinator))
        )
        db.session.add_all(
            [
                own_shift,
                rival_shift,
                rival_contact,
                rival_movement,
                rival_assignment,
                rival_alert,
                own_device,
                rival_device,
                own_leave,
                idle_leave,
                rival_leave,
                own_risk,
                rival_risk,
                own_person,
                rival_person,
                own_request,
                oc_request,
                rival_request,
                own_after,
                own_item,
                rival_after,
                rival_item,
                own_survey,
                own_photo,
                spare_site,
                oc_survey,
                oc_photo,
                rival_survey,
                rival_photo,
                own_removal,
                oc_removal,
                rival_removal,
            ]
        )
    db.session.flush()

    # Team messages: ours to world.agent_user's detail, one to another agent only, and the rival firm's.
    def message(sender, detail, recipient, key):
        row = TeamMessage(
            organisation_id=sender.organisation_id,
            detail=detail,
            sender=sender,
            audience="agents",
            body=f"Message {key}",
            asks_ack=True,
            client_id=key,
            recipients=[MessageRecipient(user=recipient)],
        )
        db.session.add(row)
        return row

    own_message = message(world.coordinator, world.detail, world.agent_user, "own")
    oc_message = message(world.coordinator, other, world.idle_agent_user, "other-client")
    rival_message = message(world.other_org_coordinator, rival, rival_user, "rival")
    db.session.flush()

    intel = _intel_rows(world)
    from intel.models import WatchArea

    oc_area = WatchArea(client_id=world.other_client.id, name="Contoso office", latitude=47.37, longitude=8.54)
    db.session.add(oc_area)
    own_text = TextMessage(organisation_id=world.org.id, to_number="+447700900123", body="ACK 1234", status="uncertain")
    rival_text = TextMessage(organisation_id=rival_org.id, to_number="+15005550006", body="ACK 98", status="uncertain")
    db.session.add_all([own_text, rival_text])
    db.session.flush()

    def first_code(organisation):
        return db.session.scalar(sa.select(StatusCode).where(StatusCode.organisation_id == organisation.id).limit(1))

    own = {
        "detail_id": world.detail.id,
        "client_id": world.client.id,
        "principal_id": world.principal.id,
        "site_id": world.hotel.id,
        "venue_id": world.hotel.id,
        "visit_id": world.detail.visits[0].id,
        "movement_id": world.detail.movements[0].id,
        "assignment_id": world.assignment.id,
        "agent_id": world.agent.id,
        "user_id": world.contact.id,
        "token_id": _token_row(revocable).id,
        "alert_id": alert.id,
        "code_id": first_code(world.org).id,
        "device_id": own_device.id,
        "period_id": own_leave.id,
        "risk_id": own_risk.id,
        "person_id": own_person.id,
        "request_id": own_request.id,
        "item_id": own_item.id,
        "removal_id": own_removal.id,
        "survey_id": own_survey.id,
        "photo_id": own_photo.id,
        "text_id": own_text.id,
        "message_id": own_message.id,
        "shift_id": own_shift.id,
        "filename": "css/app.css",
        "name": "london-protests",
        "secret": "not-a-feed-secret",
        "token": "not-an-unsubscribe-token",
        "kind": "duress",
        **intel["own"][0],
    }
    other_client = {
        "detail_id": other.id,
        "client_id": world.other_client.id,
        "principal_id": oc_principal.id,
        "visit_id": oc_visit.id,
        "movement_id": oc_movement.id,
        "assignment_id": oc_assignment.id,
        "user_id": world.other_contact.id,
        "agent_id": idle_agent.id,
        "area_id": oc_area.id,
        "period_id": idle_leave.id,  # another agent's: under our agent's path it is not found
        "request_id": oc_request.id,
        "removal_id": oc_removal.id,
        "survey_id": oc_survey.id,
        "photo_id": oc_photo.id,
        "message_id": oc_message.id,  # to another agent only
        "site_id": spare_site.id,  # not a venue of our detail
    }
    other_org = {
        "detail_id": rival.id,
        "client_id": rival_client.id,
        "principal_id": rival_principal.id,
        "site_id": rival_site.id,
        "venue_id": rival_site.id,
        "visit_id": rival.visits[0].id,
        "movement_id": rival_movement.id,
        "assignment_id": rival_assignment.id,
        "agent_id": rival_agent.id,
        "user_id": rival_contact.id,
        "token_id": _token_row(rival_token).id,
        "alert_id": rival_alert.id,
        "code_id": first_code(rival_org).id,
        "device_id": rival_device.id,
        "period_id": rival_leave.id,
        "risk_id": rival_risk.id,
        "person_id": rival_person.id,
        "request_id": rival_request.id,
        "item_id": rival_item.id,
        "removal_id": rival_removal.id,
        "survey_id": rival_survey.id,
        "photo_id": rival_photo.id,
        "text_id": rival_text.id,
        "message_id": rival_message.id,
        "shift_id": rival_shift.id,
        **intel["other_org"][0],
    }
    names = {
        # Not our venues' names: they are public places, which public pages (sample feeds) may mention.
        "org": (world.org.name, world.agent_user.name, intel["own"][1][0]),
        "client": (
            world.client.name,
            world.detail.name,
            world.principal.name,
            world.principal.code_name,
            intel["own"][1][1],  # an advisory on the client's detail
        ),
        "other_client": (world.other_client.name, other.name, oc_principal.name, oc_principal.code_name),
        "other_org": (
            rival_org.name,
            rival_client.name,
            rival.name,
            rival_site.name,
            rival_annex.name,
            rival_principal.name,
            rival_principal.code_name,
            rival_user.name,
            rival_risk.title,
            rival_person.name,
            *intel["other_org"][1],
        ),
    }
    users = {role: world.user(role).id for role in ROLES if role != "anonymous"}
    tokens = {role: issue_token(world.user(role), "matrix") for role in users}
    db.session.commit()
    return {
        "users": users,
        "tokens": tokens,
        "ids": {"own": own, "other_client": other_client, "other_org": other_org},
        "names": names,
    }


def matrix_world(folder, **config):
    """An app on the populated world, with a snapshot its tests restore between calls (a generator
    for a module-scoped fixture: it tears the app down after the yield)."""
    app = make_app(folder, **config)
    with app.app_context():
        db.create_all()
        built = _populate(build_world())
        db.session.remove()
        db.engine.dispose()
    database, snapshot = folder / "test.db", folder / "snapshot.db"
    source, target = sqlite3.connect(database), sqlite3.connect(snapshot)
    source.backup(target)
    source.close()
    target.close()
    yield Matrix(app, database, snapshot, **built)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    yield from matrix_world(
        tmp_path_factory.mktemp("access_matrix"),
        SMS_WEBHOOK_SECRET="matrix-sms-secret",
        TWILIO_AUTH_TOKEN="matrix-twilio-token",
    )


@pytest.fixture
def http(matrix):
    """A fresh test client on the database as _populate left it, with an app context pushed for
    the test's own queries (as conftest's app fixture does; each request still gets its own)."""
    matrix.restore()
    with matrix.app.app_context():
        yield matrix.app.test_client()
        db.session.remove()


# --- calling and judging ------------------------------------------------------------------------


def call(matrix: Matrix, client, role: str, access: Access, method: str, rule: str, values: dict):
    """Call the route as the role: a bearer token for the API, the session elsewhere; an empty body for writes."""
    url = url_for_rule(rule, values) + QUERIES.get((method, rule), "")
    headers, body = {}, {}
    if access.token:
        if role != "anonymous":
            headers["Authorization"] = f"Bearer {matrix.tokens[role]}"
    elif role != "anonymous":
        sign_in(client, SimpleNamespace(id=matrix.users[role]))  # sign_in needs only the id
    if access.token or access.json:
        headers["Accept"] = "application/json"
        if method in BODY_METHODS:
            body["json"] = BODIES.get((method, rule), {})
    elif method in BODY_METHODS:
        body["data"] = {}
    return client.open(url, method=method, headers=headers, **body)


def outcome(response, method: str) -> str:
    status = response.status_code
    if 300 <= status < 400:
        return SIGN_IN if urlsplit(response.headers.get("Location", "")).path == "/login" else ALLOWED
    if 200 <= status < 300 or (status in (400, 422) and method != "GET"):
        return ALLOWED
    return {401: UNAUTHORIZED, 403: FORBIDDEN, 404: NOT_FOUND}.get(status, f"HTTP {status}")


def text_of(response) -> str:
    """The answer as text; a PDF's text is read out of it, so the leak checks cover it too."""
    if response.mimetype == "application/pdf":
        return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(response.data)).pages)
    if response.mimetype.startswith("image/"):
        return ""  # a photo holds no names to leak as text
    return response.get_data(as_text=True)


def describe(response) -> str:
    text = text_of(response)
    return f"{response.status_code} Location={response.headers.get('Location')!r} body={text[:300]!r}"


def foreign_texts(matrix: Matrix, role: str) -> list[str]:
    """What must never appear in any answer to the role: others' names, and internal notes."""
    others = {
        "admin": ("other_org",),
        "coordinator": ("other_org",),
        "agent": ("other_client", "other_org"),  # world.agent_user is on world.detail only
        "client": ("other_client", "other_org"),
        "other_client": ("client", "other_org"),
        "other_org": ("org", "client", "other_client"),
        "anonymous": ("org", "client", "other_client", "other_org"),
    }[role]
    texts = [name for owner in others for name in matrix.names[owner]]
    return texts if role in STAFF else [*texts, NOTES]


def assert_no_leak(matrix: Matrix, role: str, response) -> None:
    body = text_of(response)
    for text in foreign_texts(matrix, role):
        for form in {text, html.escape(text), json.dumps(text)[1:-1]}:
            assert form not in body, f"{role} was shown {text!r}: {describe(response)}"


def assert_outcome(response, method: str, want: str) -> None:
    assert outcome(response, method) == want, f"expected {want}, got {describe(response)}"
    if want == UNAUTHORIZED:
        assert response.is_json, describe(response)


# --- the matrix ---------------------------------------------------------------------------------


def test_every_route_is_classified():
    assert RULES_ERROR is None, f"the app could not be built to list its routes: {RULES_ERROR!r}"
    unclassified = [f"{method} {rule}" for rule, method in RULES if classify(rule, method) is None]
    assert not unclassified, f"give each its row in ROUTES of {__name__}: {unclassified}"
    stale = [f"{method} {rule}" for method, rule in ROUTES if (rule, method) not in RULES]
    assert not stale, f"ROUTES lists rules the app no longer has: {stale}"


MATRIX_CASES = [
    pytest.param(rule, method, role, id=f"{method} {pretty(rule)} as {role}", marks=_marks((method, rule, role)))
    for rule, method in RULES
    for role in ROLES
]


@pytest.mark.parametrize(("rule", "method", "role"), MATRIX_CASES)
def test_access(matrix, http, rule, method, role):
    access = classify(rule, method)
    if access is None:
        pytest.fail(f"{method} {rule} is not classified: give it its row in ROUTES")
    response = call(matrix, http, role, access, method, rule, matrix.ids["own"])
    assert_outcome(response, method, expected(access, role, bool(id_params(rule))))
    assert_no_leak(matrix, role, response)


def _foreign_cases():
    """Each route with ids x each role allowed on it x ids of rows that are not the role's."""
    for rule, method in RULES:
        access, params = classify(rule, method), id_params(rule)
        if access is None or access.public or not params:
            continue
        for role in ("admin", "coordinator", "agent", "client"):
            if ACCOUNT_ROLE[role] not in access.roles:
                continue
            variants = ["other_org"]
            if role in ("agent", "client"):
                variants.append("other_client")  # same organisation, but not the agent's or the contact's
            elif len(params) > 1:
                variants.append("nested")  # our parent with another client's child
            for variant in variants:
                key = (method, rule, role, variant)
                yield pytest.param(
                    rule,
                    method,
                    role,
                    variant,
                    id=f"{method} {pretty(rule)} as {role} with {variant}",
                    marks=_marks(key),
                )


@pytest.mark.parametrize(("rule", "method", "role", "variant"), list(_foreign_cases()))
def test_foreign_ids_are_not_found(matrix, http, rule, method, role, variant):
    params = id_params(rule)
    if variant == "nested":
        children = {name: matrix.ids["other_client"][name] for name in params[1:]}
        values = {**matrix.ids["own"], **children}
    else:
        missing = [name for name in params if name not in matrix.ids[variant]]
        assert not missing, f"add ids for {missing} to the {variant} ids in _populate()"
        values = {**matrix.ids["own"], **{name: matrix.ids[variant][name] for name in params}}
    response = call(matrix, http, role, classify(rule, method), method, rule, values)
    assert_outcome(response, method, NOT_FOUND)
    assert_no_leak(matrix, role, response)


API_RULES = [(rule, method) for rule, method in RULES if (a := classify(rule, method)) and a.token]


@pytest.mark.parametrize("credentials", ["session only", "unknown token"])
@pytest.mark.parametrize(("rule", "method"), API_RULES, ids=[f"{m} {pretty(r)}" for r, m in API_RULES])
def test_api_takes_only_live_bearer_tokens(matrix, http, rule, method, credentials):
    sign_in(http, SimpleNamespace(id=matrix.users["coordinator"]))
    headers = {"Authorization": "Bearer om_not_a_token"} if credentials == "unknown token" else {}
    body = {"json": BODIES.get((method, rule), {})} if method in BODY_METHODS else {}
    url = url_for_rule(rule, matrix.ids["own"]) + QUERIES.get((method, rule), "")
    response = http.open(url, method=method, headers=headers, **body)
    assert_outcome(response, method, UNAUTHORIZED)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# Ids of the other organisation passed in query strings: not found, or filtered down to nothing.
FOREIGN_QUERIES = [
    ("/api/v1/events?detail_id={detail_id}", NOT_FOUND),
    ("/api/v1/advisories?detail={detail_id}", NOT_FOUND),
    ("/intel/advisories?detail={detail_id}", NOT_FOUND),
    ("/api/v1/details?client_id={client_id}", "[]"),
    ("/api/v1/principals?client_id={client_id}", "[]"),
    ("/api/v1/visits?detail_id={detail_id}", "[]"),
    ("/api/v1/movements?detail_id={detail_id}", "[]"),
    ("/api/v1/assignments?detail_id={detail_id}", "[]"),
    ("/intel/near?venue={site_id}", "HTTP 400"),  # "No such venue."
]


@pytest.mark.parametrize(("template", "want"), FOREIGN_QUERIES, ids=[t for t, _ in FOREIGN_QUERIES])
def test_foreign_ids_in_query_strings(matrix, http, template, want):
    url = template.format(**matrix.ids["other_org"])
    headers = {}
    if url.startswith("/api/"):
        headers["Authorization"] = f"Bearer {matrix.tokens['coordinator']}"
    else:
        sign_in(http, SimpleNamespace(id=matrix.users["coordinator"]))
    response = http.get(url, headers=headers)
    if want == "[]":
        assert response.status_code == 200 and response.json == [], describe(response)
    else:
        assert outcome(response, "GET") == want, describe(response)
    assert_no_leak(matrix, "coordinator", response)


def test_deactivated_account_is_shut_out(matrix, http):
    db.session.get(User, matrix.users["coordinator"]).active = False
    db.session.commit()
    sign_in(http, SimpleNamespace(id=matrix.users["coordinator"]))
    assert outcome(http.get("/admin/details"), "GET") == SIGN_IN
    response = http.get("/api/v1/details", headers={"Authorization": f"Bearer {matrix.tokens['coordinator']}"})
    assert outcome(response, "GET") == UNAUTHORIZED


# --- what pages show ----------------------------------------------------------------------------


PORTAL_VIEWS = [
    # role, the ids of its own detail, the names that are its, the names that are not
    ("client", "own", "client", "other_client"),
    ("other_client", "other_client", "other_client", "client"),
]


@pytest.mark.parametrize(("role", "ids", "mine", "theirs"), PORTAL_VIEWS)
def test_portal_shows_only_the_contacts_own_details(matrix, http, role, ids, mine, theirs):
    sign_in(http, SimpleNamespace(id=matrix.users[role]))
    detail_name = matrix.names[mine][1]  # (client name, detail name, ...)
    for url in ("/portal", f"/portal/details/{matrix.ids[ids]['detail_id']}"):
        page = http.get(url)
        assert page.status_code == 200, describe(page)
        text = page.get_data(as_text=True)
        assert detail_name in text  # else the checks below would pass on an empty page
        assert not [name for name in matrix.names[theirs] if name in text]
        assert NOTES not in text


@pytest.mark.parametrize("query", ["", "?agent_id={agent}", "?detail_id={detail}"])
def test_agent_token_lists_only_his_own_assignments(matrix, http, query):
    own, other = matrix.ids["own"], matrix.ids["other_client"]
    url = "/api/v1/assignments" + query.format(agent=other["agent_id"], detail=other["detail_id"])
    response = http.get(url, headers={"Authorization": f"Bearer {matrix.tokens['agent']}"})
    assert response.status_code == 200, describe(response)
    assert {row["agent_id"] for row in response.json} <= {own["agent_id"]}
    assert other["assignment_id"] not in {row["id"] for row in response.json}


def test_internal_notes_are_there_for_staff(matrix, http):
    """The notes the leak checks look for are stored, and shown to the organisation's staff."""
    response = http.get(
        f"/api/v1/details/{matrix.ids['own']['detail_id']}",
        headers={"Authorization": f"Bearer {matrix.tokens['coordinator']}"},
    )
    assert response.status_code == 200 and response.json["notes"] == NOTES


# --- the board's Socket.IO namespace ------------------------------------------------------------

NAMESPACE = live.NAMESPACE
MAY_WATCH_THE_BOARD = {"admin", "coordinator", "other_org"}


def _socket(app, client=None, auth=None):
    return FreshContextSocket(app, namespace=NAMESPACE, flask_test_client=client, auth=auth)


def _token(user) -> str:
    token = issue_token(user, "board")
    db.session.commit()
    return token


@pytest.mark.parametrize("how", ["session", "token"])
@pytest.mark.parametrize("role", ROLES)
def test_board_socket_connect(app, client, world, role, how):
    user = world.user(role)
    auth = None
    if how == "session":
        sign_in(client, user)
    else:
        auth = {"token": _token(user) if user is not None else "om_not_a_token"}
    sock = _socket(app, client, auth)
    assert sock.is_connected(NAMESPACE) is (role in MAY_WATCH_THE_BOARD)


@pytest.mark.parametrize("event", ["join", "catch_up"])
@pytest.mark.parametrize("viewer", ["coordinator", "other_org"])
def test_board_socket_refuses_another_organisations_detail(app, client, world, viewer, event):
    sign_in(client, world.user(viewer))
    sock = _socket(app, client)
    theirs, ours = (
        (world.other_org_detail, world.detail) if viewer == "coordinator" else (world.detail, world.other_org_detail)
    )
    assert sock.emit(event, {"detail_id": ours.id, "after": 0}, namespace=NAMESPACE, callback=True)["ok"] is True
    ack = sock.emit(event, {"detail_id": theirs.id, "after": 0}, namespace=NAMESPACE, callback=True)
    assert ack["ok"] is False and "events" not in ack


@pytest.mark.parametrize("viewer", ["coordinator", "other_org"])
def test_board_catch_up_returns_only_the_viewers_organisation_events(app, world, viewer):
    appended = {}
    for organisation, detail in ((world.org, world.detail), (world.other_org, world.other_org_detail)):
        appended[organisation.id] = [
            live.append_event(organisation.id, detail.id, "detail_state", {"detail_id": detail.id, "state": "hot"}),
            live.append_event(organisation.id, None, "alert", {"message": "organisation-wide"}),
        ]
    db.session.commit()
    ids = {organisation_id: {e.id for e in events} for organisation_id, events in appended.items()}
    user = world.user(viewer)
    sock = _socket(app, auth={"token": _token(user)})
    ack = sock.emit("catch_up", {"after": 0}, namespace=NAMESPACE, callback=True)
    assert ack["ok"] is True
    assert {e["id"] for e in ack["events"]} == ids[user.organisation_id]


# --- the phones' Socket.IO namespace ------------------------------------------------------------

PHONE_NAMESPACE = live.PHONE_NAMESPACE


@pytest.mark.parametrize("how", ["session", "token"])
@pytest.mark.parametrize("role", ROLES)
def test_phone_socket_connect(app, client, world, role, how):
    user = world.user(role)
    auth = None
    if how == "session":
        sign_in(client, user)
    else:
        auth = {"token": _token(user) if user is not None else "om_not_a_token"}
    sock = FreshContextSocket(app, namespace=PHONE_NAMESPACE, flask_test_client=client, auth=auth)
    assert sock.is_connected(PHONE_NAMESPACE) is (role == "agent")


def test_phone_socket_refuses_an_agent_account_without_an_agent_profile(app, world):
    # The same rule as the socket guard's recheck: the role alone is not enough.
    profileless = User(organisation=world.org, email="new@aegis.example", name="New Hire", role="agent")
    db.session.add(profileless)
    db.session.commit()
    sock = FreshContextSocket(app, namespace=PHONE_NAMESPACE, auth={"token": _token(profileless)})
    assert not sock.is_connected(PHONE_NAMESPACE)


def test_phone_socket_hears_only_the_agents_own_details(app, world, time_machine):
    time_machine.move_to(world.detail.starts_at - timedelta(minutes=30), tick=False)
    # Another agent of ours on another client's detail at the same time, and the rival firm's detail.
    idle = world.idle_agent_user.agent
    db.session.add(
        Assignment(
            detail=world.other_client_detail,
            agent=idle,
            role="agent",
            report_at=world.other_client_detail.starts_at,
            shift_starts_at=world.other_client_detail.starts_at - timedelta(hours=1),
            shift_ends_at=world.other_client_detail.ends_at,
        )
    )
    db.session.commit()
    phone = FreshContextSocket(app, namespace=PHONE_NAMESPACE, auth={"token": _token(world.agent_user)})
    other_phone = FreshContextSocket(app, namespace=PHONE_NAMESPACE, auth={"token": _token(world.idle_agent_user)})
    events = [
        live.append_event(org.id, detail.id, "detail_state", {"detail_id": detail.id, "state": "hot"})
        for org, detail in (
            (world.org, world.detail),
            (world.org, world.other_client_detail),
            (world.other_org, world.other_org_detail),
        )
    ]
    db.session.commit()
    live.publish(events)

    def heard(sock):
        return {m["args"][0]["detail_id"] for m in sock.get_received(PHONE_NAMESPACE) if m["name"] == "event"}

    assert heard(phone) == {world.detail.id}
    assert heard(other_phone) == {world.other_client_detail.id}
