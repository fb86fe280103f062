"""Coordinator pages for clients: the list, create and edit, and on a client's page its
contacts (the client's people who sign in to the portal) and its principals (the protectees).
"""

import sqlalchemy as sa
from flask import abort, render_template, url_for
from wtforms import BooleanField, EmailField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from detail.domain.scoping import owned
from detail.extensions import db
from detail.models import Client, Detail, Principal, User
from detail.web.admin.base import (
    EditingForm,
    bp,
    done,
    email_in_use,
    form_page,
    org_id,
    other_than,
    owned_or_404,
    rejected,
    save,
)
from detail.web.auth import staff_required
from detail.web.kit import strip, visible_field

FORM_PAGE = "detail/admin/form_page.html"
CLIENT_PAGE = "detail/admin/client.html"
PASSWORD_RULE = Length(min=10, max=256, message="Use at least 10 characters.")


class ClientForm(EditingForm):
    name = StringField("Name", [DataRequired(), Length(max=120), visible_field], filters=[strip])
    notes = TextAreaField("Notes", filters=[strip])

    def validate_name(self, field):
        query = owned(Client, org_id()).where(sa.func.lower(Client.name) == field.data.lower())
        if db.session.scalar(other_than(query, Client, self.editing)) is not None:
            raise ValidationError("Another client already has this name.")


class ContactForm(EditingForm):
    name = StringField("Name", [DataRequired(), Length(max=120), visible_field], filters=[strip])
    email = EmailField("Email", [DataRequired(), Email(), Length(max=254)], filters=[strip])
    title = StringField("Job title", [Length(max=120)], filters=[strip])
    phone = StringField("Phone", [Length(max=40)], filters=[strip])
    password = PasswordField("Password", [DataRequired(), PASSWORD_RULE])

    def validate_email(self, field):
        if email_in_use(field.data, self.editing.id if self.editing else None):
            raise ValidationError("Another account already uses this email.")


class ContactEditForm(ContactForm):
    password = PasswordField("New password (leave blank to keep the current one)", [Optional(), PASSWORD_RULE])
    active = BooleanField("Active (can sign in)")


class PrincipalForm(EditingForm):
    name = StringField("Name", [DataRequired(), Length(max=120), visible_field], filters=[strip])
    code_name = StringField("Code name", [DataRequired(), Length(max=60), visible_field], filters=[strip])
    notes = TextAreaField("Notes", filters=[strip])

    def __init__(self, *args, client: Client, **kwargs):
        super().__init__(*args, **kwargs)
        self.client = client

    def validate_code_name(self, field):
        # Case-insensitive although the database is not: KESTREL and Kestrel on one radio net is a mistake.
        query = sa.select(Principal).where(
            Principal.client_id == self.client.id, sa.func.lower(Principal.code_name) == field.data.lower()
        )
        if db.session.scalar(other_than(query, Principal, self.editing)) is not None:
            raise ValidationError("This client already uses this code name.")


def _contact_of(client: Client, user_id: int) -> User:
    contact = owned_or_404(User, user_id)
    if contact.role != "client" or contact.client_id != client.id:
        abort(404)  # the organisation's, but not this client's contact: as good as missing
    return contact


def _principal_of(client: Client, principal_id: int) -> Principal:
    principal = owned_or_404(Principal, principal_id)
    if principal.client_id != client.id:
        abort(404)
    return principal


def client_page(client: Client, **failed):
    """Render a client's page; a form passed in failed, so it is shown with its messages and a 400."""
    forms = {
        "contact_form": ContactForm(prefix="contact"),
        "principal_form": PrincipalForm(prefix="principal", client=client),
        **failed,
    }
    details = db.session.scalars(
        sa.select(Detail).where(Detail.client_id == client.id).order_by(Detail.starts_at.desc())
    )
    context = {"client": client, "details": details.all(), **forms}
    if failed:
        return rejected(CLIENT_PAGE, **context)
    return render_template(CLIENT_PAGE, **context)


# --- clients ------------------------------------------------------------------------------------


@bp.route("/clients")
@staff_required
def clients():
    """The organisation's clients."""
    rows = db.session.scalars(owned(Client, org_id()).order_by(Client.name)).all()
    return render_template("detail/admin/clients.html", clients=rows)


@bp.route("/clients/new", methods=["GET", "POST"])
@staff_required
def new_client():
    """Add a client company."""
    form = ClientForm()
    if form.validate_on_submit():
        client = Client(organisation_id=org_id(), name=form.name.data, notes=form.notes.data or "")
        db.session.add(client)
        if save(form):
            return done(f"Client {client.name} added.", "admin.client", client_id=client.id)
    return form_page(
        form, FORM_PAGE, title="New client", submit="Add client", back=url_for("admin.clients"), back_label="Clients"
    )


@bp.route("/clients/<int:client_id>")
@staff_required
def client(client_id: int):
    """A client with its contacts, principals and details."""
    return client_page(owned_or_404(Client, client_id))


@bp.route("/clients/<int:client_id>/edit", methods=["GET", "POST"])
@staff_required
def edit_client(client_id: int):
    """Rename a client or change its notes."""
    client = owned_or_404(Client, client_id)
    form = ClientForm(obj=client, editing=client)
    if form.validate_on_submit():
        client.name, client.notes = form.name.data, form.notes.data or ""
        if save(form):
            return done(f"Client {client.name} saved.", "admin.client", client_id=client.id)
    back = url_for("admin.client", client_id=client.id)
    return form_page(
        form, FORM_PAGE, title=f"Edit {client.name}", submit="Save client", back=back, back_label=client.name
    )


# --- contacts -----------------------------------------------------------------------------------


@bp.route("/clients/<int:client_id>/contacts", methods=["POST"])
@staff_required
def add_contact(client_id: int):
    """Give one of the client's people a portal sign-in."""
    client = owned_or_404(Client, client_id)
    form = ContactForm(prefix="contact")
    if form.validate_on_submit():
        contact = User(
            organisation_id=org_id(),
            client_id=client.id,
            role="client",
            email=form.email.data,
            name=form.name.data,
            title=form.title.data or "",
            phone=form.phone.data or "",
        )
        contact.set_password(form.password.data)
        db.session.add(contact)
        if save(form):
            return done(f"Contact {contact.name} added.", "admin.client", client_id=client.id, _anchor="contacts")
    return client_page(client, contact_form=form)


@bp.route("/clients/<int:client_id>/contacts/<int:user_id>/edit", methods=["GET", "POST"])
@staff_required
def edit_contact(client_id: int, user_id: int):
    """Change a contact's details or password, or deactivate them (sign-in and tokens stop working)."""
    client = owned_or_404(Client, client_id)
    contact = _contact_of(client, user_id)
    form = ContactEditForm(obj=contact, editing=contact)
    if form.validate_on_submit():
        contact.name, contact.email = form.name.data, form.email.data
        contact.title, contact.phone = form.title.data or "", form.phone.data or ""
        contact.active = form.active.data
        if form.password.data:
            contact.set_password(form.password.data)
        if save(form):
            return done(f"Contact {contact.name} saved.", "admin.client", client_id=client.id, _anchor="contacts")
    back = url_for("admin.client", client_id=client.id, _anchor="contacts")
    return form_page(
        form,
        FORM_PAGE,
        title=f"Edit contact: {contact.name}",
        submit="Save contact",
        back=back,
        back_label=client.name,
        attrs={"password": {"autocomplete": "new-password"}},
    )


# --- principals ---------------------------------------------------------------------------------


@bp.route("/clients/<int:client_id>/principals", methods=["POST"])
@staff_required
def add_principal(client_id: int):
    """Add a protectee of the client."""
    client = owned_or_404(Client, client_id)
    form = PrincipalForm(prefix="principal", client=client)
    if form.validate_on_submit():
        principal = Principal(
            client_id=client.id, name=form.name.data, code_name=form.code_name.data, notes=form.notes.data or ""
        )
        db.session.add(principal)
        if save(form):
            return done(
                f"Principal {principal.code_name} added.", "admin.client", client_id=client.id, _anchor="principals"
            )
    return client_page(client, principal_form=form)


@bp.route("/clients/<int:client_id>/principals/<int:principal_id>/edit", methods=["GET", "POST"])
@staff_required
def edit_principal(client_id: int, principal_id: int):
    """Change a principal's name, code name or notes."""
    client = owned_or_404(Client, client_id)
    principal = _principal_of(client, principal_id)
    form = PrincipalForm(obj=principal, client=client, editing=principal)
    if form.validate_on_submit():
        principal.name, principal.code_name = form.name.data, form.code_name.data
        principal.notes = form.notes.data or ""
        if save(form):
            return done(
                f"Principal {principal.code_name} saved.", "admin.client", client_id=client.id, _anchor="principals"
            )
    back = url_for("admin.client", client_id=client.id, _anchor="principals")
    return form_page(
        form, FORM_PAGE, title=f"Edit {principal.code_name}", submit="Save principal", back=back, back_label=client.name
    )
