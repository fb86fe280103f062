"""The intel web layer: feed registry and review pages, the portal, the JSON API, the sample feeds."""

from flask import Blueprint

# The coordinators' intel pages (pages.py) and the demo's sample feeds (samples.py) register on it.
bp = Blueprint("intel", __name__, url_prefix="/intel")
