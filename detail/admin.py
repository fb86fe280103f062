"""Coordinator pages: clients, contacts, principals, details, venues, movements, agents, assignments, tokens."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")
