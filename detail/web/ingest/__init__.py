"""Agents' own phone apps, accepted as they speak: OwnTracks, Traccar Client (OsmAnd), GPSLogger, texts.

One module per app (owntracks, osmand, gpslogger, sms), each adding its routes to the ingest blueprint
of base, which holds what they share; sms_status takes the text provider's delivery reports.

Every request becomes positions and statuses through detail.domain, stored once under the apps'
retries: positions by (agent, source, device time), statuses by a client_id built from what the
app sent. The replies follow each app's rules: OwnTracks drops a message it gets a 4xx for and
Traccar Client deletes a buffered point only after a 2xx, so only what can never succeed (bad
credentials, an unknown device, garbage) is a 4xx; a fault of ours is a 503 (see the app's error
handlers) and the app sends again.
"""

from detail.web.ingest import gpslogger, osmand, owntracks, sms, sms_status
from detail.web.ingest.base import bp

__all__ = ["bp", "gpslogger", "osmand", "owntracks", "sms", "sms_status"]
