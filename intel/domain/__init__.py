"""The intel domain: fetching and parsing feeds, places, classification, advisories and digests.

Flushes, never commits (the poller and senders commit per unit of work); knows no request or template."""
