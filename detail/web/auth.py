"""Who is asking: session sign-in for pages, bearer tokens for phones and scripts, and role checks."""

import functools
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, Email, EqualTo, Length, ValidationError

from detail.domain.sessions import end_session, live_session, live_sessions, stamp_last_seen, start_session
from detail.extensions import db, limiter, login_manager
from detail.models import ApiToken, User, UserSession, utcnow
from detail.web.security import (
    LOGIN_FAILURES_PER_ACCOUNT,
    LOGIN_FAILURES_PER_ADDRESS,
    configured,
    failed_sign_in,
    submitted_account,
)

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.login_message = "Please sign in to see that page."
login_manager.login_message_category = "info"


@login_manager.unauthorized_handler
def unauthorized():
    # Scripts and the phone page want a status they can act on, not a redirect to a form.
    if request.is_json or request.accept_mimetypes.best == "application/json":
        return {"code": 401, "status": "Unauthorized", "message": "sign in first"}, 401
    flash(login_manager.login_message, login_manager.login_message_category)
    return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """The user whose live session a session or remember cookie names (sessions.live_session).

    The id is "<user id>:<session secret>" (User.get_id); a bare id, or the "<id>:<version>" of
    before session rows, signs nobody in. The board's sockets authenticate through this too, when
    they connect: current_session() then names the session a socket was opened with.
    """
    user_id, _, secret = session_id.partition(":")
    if not (user_id.isascii() and user_id.isdigit() and len(user_id) < 19 and secret):
        return None
    found = live_session(int(user_id), secret)
    if found is None:
        return None
    user, session = found
    stamp_last_seen(session)
    g.user_session = session
    return user


def current_session() -> UserSession | None:
    """The session this request is signed in with (None for tokens and anonymous requests)."""
    return g.get("user_session") if current_user.is_authenticated else None


def sign_in(user: User, remember: bool = False, device: str | None = None) -> None:
    """Start a session for this browser and put it in its cookies (the caller commits)."""
    g.user_session = start_session(user, request.user_agent.string if device is None else device)
    login_user(user, remember=remember)


def home_for(user: User) -> str:
    """Where each role lands after signing in."""
    if user.is_staff:
        return url_for("board.organisation")
    if user.role == "agent":
        return url_for("phone.page")
    return url_for("portal.index")


def roles_required(*roles: str):
    """Pages: anonymous users go to sign-in, signed-in users without one of the roles get 403."""

    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


staff_required = roles_required("admin", "coordinator")


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email()])
    password = PasswordField("Password", validators=[DataRequired()])
    remember = BooleanField("Keep me signed in on this device")


def _safe_next(target: str | None) -> str | None:
    # Only same-site paths: an absolute URL here would make sign-in an open redirect.
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(configured(LOGIN_FAILURES_PER_ADDRESS), methods=["POST"], deduct_when=failed_sign_in)
@limiter.limit(
    configured(LOGIN_FAILURES_PER_ACCOUNT), key_func=submitted_account, methods=["POST"], deduct_when=failed_sign_in
)
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == form.email.data.strip().lower()))
        if user is None or not user.check_password(form.password.data) or not user.active:
            flash("Wrong email or password.", "error")
            return render_template("auth/login.html", form=form), 401
        sign_in(user, remember=form.remember.data)
        db.session.commit()
        return redirect(_safe_next(request.args.get("next")) or home_for(user))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    # A signed cookie cannot be taken back from whoever copied it: ending its session row is what
    # makes every copy, and the remember cookie, stop working. The account's other devices (the
    # phone page an agent reports from) stay signed in.
    session = current_session()
    if session is not None:
        end_session(session)
        db.session.commit()
    logout_user()
    flash("Signed out.", "info")
    return redirect(url_for("auth.login"))


# --- the account page ---------------------------------------------------------------------------


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField("Current password", [DataRequired()])
    new_password = PasswordField(
        "New password", [DataRequired(), Length(min=10, max=256, message="Use at least 10 characters.")]
    )
    confirm = PasswordField("New password again", [DataRequired(), EqualTo("new_password", "The two do not match.")])

    def validate_current_password(self, field):
        if not current_user.check_password(field.data):
            raise ValidationError("Your current password is not right.")


def _account_page(password_form: PasswordChangeForm, status: int = 200):
    this = current_session()
    return render_template(
        "auth/account.html",
        password_form=password_form,
        sessions=live_sessions(current_user),
        this_session_id=this.id if this else None,
    ), status


@bp.route("/account")
@login_required
def account():
    """Who is signed in, where, a new password, and signing out one device or every one."""
    return _account_page(PasswordChangeForm())


@bp.route("/account/password", methods=["POST"])
@login_required
def change_password():
    """A new password ends every other session of the account; this one stays signed in."""
    form = PasswordChangeForm()
    if not form.validate_on_submit():
        return _account_page(form, 400)
    user = current_user._get_current_object()
    this = current_session()
    user.set_password(form.new_password.data)  # a new session version too (User._end_sessions_on_change)
    # This browser signs in again with a new session, so even copies of its old cookies stop
    # working; a remember cookie it held is issued again.
    remembered = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
    sign_in(user, remember=remembered, device=this.device if this else None)
    db.session.commit()
    flash("Password changed. Every other device signed in to your account has been signed out.", "success")
    return redirect(url_for("auth.account"))


@bp.route("/account/sign-out-everywhere", methods=["POST"])
@login_required
def sign_out_everywhere():
    """Every session and remember cookie of the account ends, this one too (the form's CSRF token is checked first)."""
    current_user.end_sessions()
    db.session.commit()
    logout_user()
    flash("Signed out on every device, including any that were kept signed in.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/sessions/sign-out", methods=["POST"])
@login_required
def sign_out_session():
    """One of the account's sessions (the form's session_id) ends: a lost phone, a shared computer; the others go on."""
    session_id = request.form.get("session_id", type=int)
    if session_id is None:
        abort(400, "Say which session to sign out.")
    session = db.session.get(UserSession, session_id)
    if session is None or session.user_id != current_user.id:
        abort(404)
    this = current_session()
    end_session(session)
    db.session.commit()
    if session is this:
        logout_user()
        flash("Signed out.", "info")
        return redirect(url_for("auth.login"))
    flash("That device has been signed out.", "success")
    return redirect(url_for("auth.account"))


# --- tokens -----------------------------------------------------------------------------------


def issue_token(user: User, name: str = "") -> str:
    """Create a token for the user and return it; only its hash is kept, so this is the one chance to see it."""
    token = "om_" + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, name=name, token_hash=ApiToken.hash(token)))
    return token


LAST_USED_RESOLUTION = timedelta(minutes=1)


# Built once: every API request and phone post runs it.
_LIVE_TOKEN = (
    sa.select(ApiToken)
    .where(ApiToken.token_hash == sa.bindparam("token_hash"), ApiToken.revoked_at.is_(None))
    # The account and its agent profile in the same query: every status post needs both.
    .options(so.joinedload(ApiToken.user).joinedload(User.agent))
)


def user_for_token(token: str) -> User | None:
    """The active user a live token belongs to, or None. Revocation takes effect on the next request."""
    row = db.session.scalar(_LIVE_TOKEN, {"token_hash": ApiToken.hash(token)})
    if row is None or not row.user.active:
        return None
    now = utcnow()
    # A phone posts often: stamping once a minute keeps "last used" true without a write per request.
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        row.last_used_at = now
    g.api_token = row
    return row.user


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def revoke_token(token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
