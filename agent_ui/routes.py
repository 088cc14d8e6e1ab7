"""Every HTTP endpoint of the REST API, with who may call it: the one place roles are declared.

Agents search, view, screen-pop and update customers and add notes; merges, order
import and the audit log need a supervisor or admin; user administration and privacy
requests (export, erase) need an admin. Login and ``/status`` are public.
"""

from __future__ import annotations

from typing import Any

from agent_ui import openapi
from agent_ui.api import (
    agents,
    audit,
    auth,
    calls,
    canned,
    chats,
    contacts,
    customers,
    emails,
    offers,
    queues,
    reports,
    status,
    supervision,
    users,
    wallboard,
)
from agent_ui.endpoint import ADMINS, AGENTS, ANY_USER, PUBLIC, SUPERVISORS, Endpoint
from agent_ui.pages import canned_responses as canned_page
from agent_ui.pages import chat_widget, home, login, static
from agent_ui.pages import console as console_page
from agent_ui.pages import customers as customer_pages
from agent_ui.pages import reports as reports_page
from agent_ui.pages import wallboard as wallboard_page
from agent_ui.schemas import (
    AgentRoutingUpdate,
    AgentStateChange,
    AgentStatesReportQuery,
    AuditQuery,
    CallDial,
    CallMonitor,
    CallTransfer,
    CannedCreate,
    CannedQuery,
    CannedUpdate,
    ChatMessagesQuery,
    ChatReadIn,
    ChatSend,
    ChatTransfer,
    ChatTypingIn,
    ChatUploadQuery,
    ContactLink,
    ContactMove,
    ContactPriority,
    ContactsReportQuery,
    CsatScore,
    CustomerCreate,
    CustomerSearchQuery,
    CustomerUpdate,
    EmailReply,
    EmailThreadQuery,
    EmailTransfer,
    HistoryQuery,
    IdentityIn,
    IdentityRemoveQuery,
    LoginRequest,
    MergeRequest,
    MyPreferences,
    NoteCreate,
    OrderImport,
    PasswordChange,
    PasswordReset,
    ProfileQuery,
    QuarantineQuery,
    ScreenPopQuery,
    StaffingWhatIf,
    TokenCreate,
    UserCreate,
    UserListQuery,
    UserUpdate,
    WrapUpSave,
)

API = "/api/v1"
# Ids are 64-bit: more than 18 digits cannot be one, so such paths do not match at all.
# ASCII digits only: \d also matches Arabic-Indic or full-width digits, which int()
# would read, so /customers/%D9%A1 would have been customer 1.
ID = r"[0-9]{1,18}"
ORDER_IMPORT_MAX_BODY = 8 * 1024 * 1024
# Voice contact ids: "call-" + <Asterisk server name>:<linkedid> (1795392925.12, or
# cc-c2d-<hex> for click-to-dial); no slash, so the action paths below cannot clash.
CALL = r"call-[A-Za-z0-9_.:@-]{3,140}"


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _page(item: dict[str, Any]) -> dict[str, Any]:
    return _object(
        {"items": {"type": "array", "items": item}, "next_cursor": {"type": ["string", "null"]}},
        ["items", "next_cursor"],
    )


USER = {"$ref": "#/components/schemas/User"}
TOKEN = {"$ref": "#/components/schemas/ApiToken"}
PROFILE = {"$ref": "#/components/schemas/CustomerProfile"}
OBJECT: dict[str, Any] = {"type": "object"}
AGENT_STATE = _object(
    {"user_id": {"type": "integer"}, "agent_id": {"type": "string"},
     "state": {"enum": ["offline", "ready", "not_ready"]}, "reason": {"type": ["string", "null"]},
     "state_seconds": {"type": "number"}, "queues": {"type": "array"},
     "active": {"type": "object"}, "extension": {"type": ["string", "null"]}},
    ["user_id", "agent_id", "state", "reason"],
)  # fmt: skip
CALL_VIEW = _object(
    {"contact_id": {"type": "string"}, "call_id": {"type": "string"},
     "server": {"type": "string"},
     "state": {"enum": ["new", "queued", "ringing", "dialing", "talking", "held",
                        "transferring", "transferred", "ended"]},
     "direction": {"enum": ["inbound", "outbound"]}, "caller_number": {"type": "string"},
     "queue": {"type": "string"}, "agent_id": {"type": ["string", "null"]},
     "extension": {"type": "string"}, "held": {"type": "boolean"},
     "recording": {"type": "boolean"}, "recording_file": {"type": "string"},
     "transfer": {"type": ["object", "null"]},
     "monitors": {"type": "array", "items": OBJECT}},
    ["contact_id", "call_id", "state", "held", "recording", "transfer", "agent_id"],
)  # fmt: skip
_CALL_ACTION = (
    "200: Asterisk's events show the result; 202: Asterisk accepted it, the hub's "
    "call message tells the rest. Agents: their own calls only (403 not-your-call)."
)

# Router contact ids: voice ones are "call-<server>:<Asterisk uniqueid>".
CONTACT_ID = r"[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,127}"
OFFER_OUTCOME = _object(
    {
        "contact": _object(
            {
                "contact_id": {"type": "string"},
                "channel": {"type": "string"},
                "queue": {"type": "string"},
                "state": {"type": "string"},
                "agent_id": {"type": ["string", "null"]},
            }
        ),
        "agent": AGENT_STATE,
    },
    ["contact", "agent"],
)
WRAP_UP = _object(
    {
        "contact_id": {"type": "string"},
        "state": {"type": "string"},
        "interaction_id": {"type": ["integer", "null"]},
        "disposition": {"type": ["string", "null"]},
        "disposition_label": {"type": ["string", "null"]},
        "resolved": {"type": "boolean"},
        "notes": {"type": ["string", "null"]},
        "finished": {"type": "boolean"},
    },
    ["contact_id", "state", "interaction_id", "disposition", "finished"],
)
EMAIL_REPLY_MAX_BODY = 20 * 1024 * 1024
EMAIL_SENT = _object(
    {"id": {"type": "integer"}, "thread_id": {"type": "integer"},
     "message_id": {"type": ["string", "null"]},
     "status": {"enum": ["sending", "sent", "failed", "refused"]},
     "error": {"type": ["string", "null"]}, "client_id": {"type": ["string", "null"]}},
    ["id", "thread_id", "status"],
)  # fmt: skip
EMAIL_THREAD = _object(
    {"thread_id": {"type": "integer"}, "contact_id": {"type": "string"},
     "current_contact_id": {"type": ["string", "null"]}, "customer_id": {"type": "integer"},
     "status": {"enum": ["new", "open", "pending", "closed"]}, "subject": {"type": "string"},
     "messages": {"type": "array", "items": OBJECT}},
    ["thread_id", "contact_id", "customer_id", "status", "messages"],
)  # fmt: skip
QUEUE = _object(
    {
        "name": {"type": "string"},
        "channels": {"type": "array", "items": {"type": "string"}},
        "dispositions": {
            "type": "array",
            "items": _object(
                {
                    "id": {"type": "string"},
                    "label": {"type": "string"},
                    "resolved": {"type": "boolean"},
                }
            ),
        },
        "disposition_required": {"type": "boolean"},
        "wrap_up_seconds": {"type": ["number", "string"]},
        "wrap_up_max_seconds": {"type": "number"},
    },
    ["name", "channels", "dispositions", "disposition_required", "wrap_up_seconds"],
)
AGENT_STATES_REPORT = _object(
    {
        "day": {"type": "string"},
        "from": {"type": "number"},
        "to": {"type": "number"},
        "agents": {
            "type": "array",
            "items": _object(
                {
                    "agent_id": {"type": "string"},
                    "user_id": {"type": ["integer", "null"]},
                    "name": {"type": ["string", "null"]},
                    "states": OBJECT,
                    "not_ready_reasons": OBJECT,
                    "changes": {"type": "integer"},
                    "state": {"type": "string"},
                    "reason": {"type": ["string", "null"]},
                }
            ),
        },
    },
    ["day", "from", "to", "agents"],
)
AGENT_ROUTING = _object(
    {
        "user_id": {"type": "integer"},
        "agent_id": {"type": "string"},
        "source": {"enum": ["admin", "settings", "default"]},
        "queues": {"type": ["array", "null"]},
        "skills": OBJECT,
        "profile": {"type": ["string", "null"]},
        "auto_accept": {"type": ["array", "null"]},
        "effective": OBJECT,
    },
    ["user_id", "agent_id", "source", "queues", "skills", "profile", "auto_accept", "effective"],
)

CHAT_MAX_BODY = 512 * 1024
ATTACHMENT_ID = r"[A-Za-z0-9_-]{1,48}"
CHAT_MESSAGE = _object(
    {
        "seq": {"type": "integer"},
        "client_id": {"type": ["string", "null"]},
        "from": {"enum": ["visitor", "agent", "system"]},
        "text": {"type": "string"},
        "at": {"type": "number"},
        "sender_name": {"type": ["string", "null"]},
        "attachment": {"type": ["object", "null"]},
        "notice": {"type": ["string", "null"]},
    },
    ["seq", "client_id", "from", "text", "at", "sender_name", "attachment", "notice"],
)
CHAT_SENT = _object({"message": CHAT_MESSAGE, "created": {"type": "boolean"}},
                    ["message", "created"])  # fmt: skip
CHAT = _object(
    {
        "conversation_id": {"type": "string"},
        "contact_id": {"type": "string"},
        "status": {"enum": ["queued", "offered", "active", "ended"]},
        "queue": {"type": "string"},
        "customer_id": {"type": "integer"},
        "visitor_name": {"type": "string"},
        "seq": {"type": "integer"},
        "visitor_read_seq": {"type": "integer"},
        "agent_read_seq": {"type": "integer"},
        "rating": {"type": ["integer", "null"]},
        "rating_comment": {"type": ["string", "null"]},
    },
    ["conversation_id", "contact_id", "status", "queue", "seq"],
)
CANNED = _object(
    {
        "id": {"type": "integer"},
        "queue": {"type": ["string", "null"]},
        "shortcut": {"type": "string"},
        "title": {"type": "string"},
        "text": {"type": "string"},
        "rendered": {"type": "string"},
    },
    ["id", "queue", "shortcut", "title", "text"],
)

ENDPOINTS: tuple[Endpoint, ...] = (
    # -- authentication ----------------------------------------------------------------
    Endpoint("POST", f"{API}/auth/login", auth.login, PUBLIC, "Log in (browser session)",
             "auth", body=LoginRequest,
             response=_object({"user": USER, "csrf_token": {"type": "string"},
                               "idle_timeout_seconds": {"type": "integer"}}),
             description="Sets the HttpOnly session cookie and returns the CSRF token to send "
                         "as X-CSRF-Token on every unsafe request."),
    Endpoint("POST", f"{API}/auth/logout", auth.logout, ANY_USER, "End this browser session",
             "auth", status=204, response=None),
    Endpoint("GET", f"{API}/auth/me", auth.me, ANY_USER, "The caller, and the CSRF token",
             "auth", response=_object({"user": USER, "auth": {"enum": ["session", "token"]},
                                       "csrf_token": {"type": "string"}})),
    Endpoint("POST", f"{API}/auth/password", auth.change_password, ANY_USER,
             "Change my password (ends my other sessions)", "auth", body=PasswordChange,
             response=_object({"user": USER, "csrf_token": {"type": "string"}})),
    Endpoint("GET", f"{API}/auth/tokens", auth.list_tokens, ANY_USER, "List my API tokens",
             "auth", response=_object({"items": {"type": "array", "items": TOKEN}})),
    Endpoint("POST", f"{API}/auth/tokens", auth.create_token, ANY_USER,
             "Create an API token (the secret is shown once)", "auth", body=TokenCreate,
             status=201, response=_object({"token": TOKEN, "secret": {"type": "string"}})),
    Endpoint("DELETE", f"{API}/auth/tokens/{{token_id:{ID}}}", auth.revoke_token, ANY_USER,
             "Revoke one of my API tokens", "auth", response=TOKEN),
    # -- users (admin) -------------------------------------------------------------------
    Endpoint("GET", f"{API}/users", users.list_users, ADMINS, "List users", "users",
             query=UserListQuery, response=_object({"items": {"type": "array", "items": USER}})),
    Endpoint("POST", f"{API}/users", users.create_user, ADMINS, "Create a user", "users",
             body=UserCreate, status=201, response=USER),
    Endpoint("GET", f"{API}/users/{{user_id:{ID}}}", users.get_user, ADMINS, "Get a user",
             "users", response=USER),
    Endpoint("PATCH", f"{API}/users/{{user_id:{ID}}}", users.update_user, ADMINS,
             "Change a user's role, profile, or disable/enable them", "users",
             body=UserUpdate, response=USER),
    Endpoint("POST", f"{API}/users/{{user_id:{ID}}}/password", users.reset_password, ADMINS,
             "Set a user's password (ends their sessions)", "users", body=PasswordReset),
    Endpoint("PATCH", f"{API}/users/me", users.update_me, ANY_USER,
             "Change my own preferences (UI language)", "users", body=MyPreferences,
             response=USER),
    # -- customers -------------------------------------------------------------------------
    Endpoint("GET", f"{API}/customers", customers.search_customers, ANY_USER,
             "Search customers by name, phone, email or account number", "customers",
             query=CustomerSearchQuery, response=_page(PROFILE)),
    Endpoint("POST", f"{API}/customers", customers.create_customer, ANY_USER,
             "Create a customer", "customers", body=CustomerCreate, status=201,
             response=PROFILE),
    Endpoint("GET", f"{API}/customers/{{customer_id:{ID}}}", customers.get_customer, ANY_USER,
             "Get a customer's profile (audit-logged)", "customers", query=ProfileQuery,
             response=PROFILE),
    Endpoint("PATCH", f"{API}/customers/{{customer_id:{ID}}}", customers.update_customer,
             ANY_USER, "Change a customer's fields", "customers", body=CustomerUpdate,
             response=PROFILE),
    Endpoint("POST", f"{API}/customers/{{customer_id:{ID}}}/identities",
             customers.add_identity, ANY_USER, "Add a phone, email, chat id or account number",
             "customers", body=IdentityIn, status=201),
    Endpoint("DELETE", f"{API}/customers/{{customer_id:{ID}}}/identities",
             customers.remove_identity, ANY_USER, "Remove an identity", "customers",
             query=IdentityRemoveQuery, status=204, response=None),
    Endpoint("GET", f"{API}/customers/{{customer_id:{ID}}}/history",
             customers.customer_history, ANY_USER,
             "A page of the customer's interactions, newest first (audit-logged)", "customers",
             query=HistoryQuery, response=_page(OBJECT)),
    Endpoint("POST", f"{API}/customers/{{customer_id:{ID}}}/notes", customers.add_note,
             ANY_USER, "Add a note", "customers", body=NoteCreate, status=201),
    Endpoint("GET", f"{API}/customers/{{customer_id:{ID}}}/merges", customers.list_merges,
             ANY_USER, "Merges this customer took part in", "customers",
             response=_object({"items": {"type": "array", "items": OBJECT}})),
    Endpoint("GET", f"{API}/customers/{{customer_id:{ID}}}/export",
             customers.export_customer, ADMINS,
             "Everything held about a customer (data subject access request)", "privacy"),
    Endpoint("POST", f"{API}/customers/{{customer_id:{ID}}}/erase", customers.erase_customer,
             ADMINS, "Erase a customer's personal data", "privacy"),
    Endpoint("GET", f"{API}/screen-pop", customers.screen_pop, ANY_USER,
             "Everything an agent needs for an offered contact (audit-logged)", "customers",
             query=ScreenPopQuery),
    Endpoint("POST", f"{API}/merges", customers.merge_customers, SUPERVISORS,
             "Merge one customer into another (reversible)", "merges", body=MergeRequest,
             status=201),
    Endpoint("POST", f"{API}/merges/{{merge_id:{ID}}}/undo", customers.unmerge_customers,
             SUPERVISORS, "Undo a merge", "merges"),
    Endpoint("POST", f"{API}/orders/import", customers.import_orders, SUPERVISORS,
             "Import orders from a back-office system", "orders", body=OrderImport,
             max_body=ORDER_IMPORT_MAX_BODY,
             response=_object({"inserted": {"type": "integer"}, "updated": {"type": "integer"},
                               "customers": {"type": "integer"},
                               "rejected": {"type": "array", "items": OBJECT}})),
    # -- audit, status, description ----------------------------------------------------
    Endpoint("GET", f"{API}/audit", audit.audit_log, SUPERVISORS,
             "Query the audit log (newest first)", "audit", query=AuditQuery,
             response=_page(OBJECT)),
    # -- agent state in the router ---------------------------------------------------------
    Endpoint("GET", f"{API}/agents/me/state", agents.my_state, AGENTS, "My state in the router",
             "agents", response=AGENT_STATE),
    Endpoint("PUT", f"{API}/agents/me/state", agents.set_my_state, AGENTS,
             "Go ready, not ready (with a reason) or offline", "agents", body=AgentStateChange,
             response=AGENT_STATE),
    Endpoint("GET", f"{API}/agents/{{user_id:{ID}}}/state", agents.get_agent_state, SUPERVISORS,
             "An agent's state in the router", "agents", response=AGENT_STATE),
    Endpoint("PUT", f"{API}/agents/{{user_id:{ID}}}/state", agents.set_agent_state, SUPERVISORS,
             "Change an agent's state (recorded as forced by the supervisor)", "agents",
             body=AgentStateChange, response=AGENT_STATE),
    # -- calls (call control from the consoles) ---------------------------------------------
    Endpoint("GET", f"{API}/calls/{{contact_id:{CALL}}}", calls.get_call, ANY_USER,
             "A call as Asterisk shows it (agents: their own calls)", "calls",
             response=CALL_VIEW),
    Endpoint("POST", f"{API}/calls", calls.dial, AGENTS,
             "Click-to-dial: ring my phone, then the number", "calls", body=CallDial,
             status=202, response=CALL_VIEW,
             description="202 while the agent's phone rings (201 if it answered already)."),
    Endpoint("POST", f"{API}/calls/{{contact_id:{CALL}}}/hold", calls.hold, ANY_USER,
             "Put the customer on hold (music on hold)", "calls", response=CALL_VIEW,
             description=_CALL_ACTION),
    Endpoint("POST", f"{API}/calls/{{contact_id:{CALL}}}/resume", calls.resume, ANY_USER,
             "Take the customer off hold", "calls", response=CALL_VIEW,
             description=_CALL_ACTION),
    Endpoint("POST", f"{API}/calls/{{contact_id:{CALL}}}/hangup", calls.hangup, ANY_USER,
             "Hang up the call", "calls", response=CALL_VIEW, description=_CALL_ACTION),
    Endpoint("POST", f"{API}/calls/{{contact_id:{CALL}}}/recording/start",
             calls.start_recording, ANY_USER, "Start recording the call", "calls",
             response=CALL_VIEW, description=_CALL_ACTION),
    Endpoint("POST", f"{API}/calls/{{contact_id:{CALL}}}/recording/stop",
             calls.stop_recording, ANY_USER, "Stop recording the call", "calls",
             response=CALL_VIEW, description=_CALL_ACTION),
    Endpoint("POST", f"{API}/calls/{{contact_id:{CALL}}}/transfer", calls.transfer, ANY_USER,
             "Transfer blind (to an agent, a queue or a number) or attended (consult an "
             "agent first)", "calls", body=CallTransfer, response=CALL_VIEW,
             description=_CALL_ACTION),
    Endpoint("POST", f"{API}/calls/{{contact_id:{CALL}}}/transfer/complete",
             calls.complete_transfer, ANY_USER,
             "Complete an attended transfer (I leave; the customer and the target talk)",
             "calls", response=CALL_VIEW, description=_CALL_ACTION),
    Endpoint("POST", f"{API}/calls/{{contact_id:{CALL}}}/transfer/cancel",
             calls.cancel_transfer, ANY_USER,
             "Cancel an attended transfer (the customer comes back to me)", "calls",
             response=CALL_VIEW, description=_CALL_ACTION),
    Endpoint("POST", f"{API}/calls/{{contact_id:{CALL}}}/monitor", calls.monitor, SUPERVISORS,
             "Listen to, whisper into or barge into a call from my phone", "calls",
             body=CallMonitor, response=CALL_VIEW, description=_CALL_ACTION),
    Endpoint("DELETE", f"{API}/calls/{{contact_id:{CALL}}}/monitor", calls.stop_monitor,
             SUPERVISORS, "Stop monitoring a call", "calls", response=CALL_VIEW,
             description=_CALL_ACTION),
    # -- offers, wrap-up, queues, agent reports and administration ------------------------
    Endpoint("POST", f"{API}/offers/{{contact_id:{CONTACT_ID}}}/accept", offers.accept, AGENTS,
             "Accept a chat or email offered to me (a call: answer the phone)", "offers",
             response=OFFER_OUTCOME),
    Endpoint("POST", f"{API}/offers/{{contact_id:{CONTACT_ID}}}/decline", offers.decline, AGENTS,
             "Decline a chat or email offered to me: back to its place in the queue, and I "
             "go not ready (missed-offer)", "offers", response=OFFER_OUTCOME),
    Endpoint("POST", f"{API}/contacts/{{contact_id:{CONTACT_ID}}}/wrap-up", contacts.wrap_up,
             AGENTS, "Save my contact's disposition and notes; finish ends wrap-up",
             "contacts", body=WrapUpSave, response=WRAP_UP),
    Endpoint("POST", f"{API}/contacts/{{contact_id:{CONTACT_ID}}}/link", contacts.link, AGENTS,
             "Link the caller of my contact (a provisional profile) to an existing customer",
             "contacts", body=ContactLink, status=201),
    Endpoint("DELETE", f"{API}/contacts/{{contact_id:{CONTACT_ID}}}/link", contacts.unlink,
             AGENTS, "Undo the link of my contact's caller", "contacts"),
    # -- email threads (docs/email.md) -------------------------------------------------------
    Endpoint("GET", f"{API}/emails/{{contact_id:{CONTACT_ID}}}/thread", emails.thread, ANY_USER,
             "An email thread: messages (sanitised HTML, quoted text marked), attachments, "
             "delivery status (agents: their own threads; audit-logged)", "email",
             query=EmailThreadQuery, response=EMAIL_THREAD),
    Endpoint("POST", f"{API}/emails/{{contact_id:{CONTACT_ID}}}/reply", emails.reply, AGENTS,
             "Reply to the customer from the queue's address, threaded", "email",
             body=EmailReply, max_body=EMAIL_REPLY_MAX_BODY, response=EMAIL_SENT),
    Endpoint("POST", f"{API}/emails/{{contact_id:{CONTACT_ID}}}/pending", emails.pending, AGENTS,
             "Wait on the customer: the contact ends, their next message reopens it",
             "email", response=OBJECT),
    Endpoint("POST", f"{API}/emails/{{contact_id:{CONTACT_ID}}}/close", emails.close, AGENTS,
             "Done with the thread: the contact ends (then wrap-up)", "email",
             response=OBJECT),
    Endpoint("POST", f"{API}/emails/{{contact_id:{CONTACT_ID}}}/transfer", emails.transfer,
             AGENTS, "Move the thread's contact to another queue", "email",
             body=EmailTransfer, response=OBJECT),
    Endpoint("GET", f"{API}/emails/{{contact_id:{CONTACT_ID}}}/attachments/{{attachment_id:{ID}}}",
             emails.attachment, ANY_USER, "An attachment of a thread (images inline, any other "
             "type as a download)", "email", response={"type": "string"},
             media_type="application/octet-stream"),
    Endpoint("GET", f"{API}/email/quarantine", emails.quarantine, ADMINS,
             "Messages that could not be taken in (raw kept), newest first", "email",
             query=QuarantineQuery, response=_page(OBJECT)),
    Endpoint("POST", f"{API}/email/quarantine/{{inbound_id:{ID}}}/retry", emails.retry, ADMINS,
             "Process a quarantined message again", "email", response=OBJECT),
    Endpoint("GET", f"{API}/queues", queues.list_queues, ANY_USER,
             "Every queue: channels, dispositions, wrap-up timer", "queues",
             response=_object({"items": {"type": "array", "items": QUEUE}})),
    Endpoint("GET", f"{API}/reports/agent-states", reports.agent_states, SUPERVISORS,
             "Seconds per state and per not-ready reason per agent on a UTC day",
             "reports", query=AgentStatesReportQuery, response=AGENT_STATES_REPORT),
    Endpoint("GET", f"{API}/agents/{{user_id:{ID}}}/routing", agents.get_agent_routing, ADMINS,
             "An agent's queues, skills, routing profile and auto-accept channels", "agents",
             response=AGENT_ROUTING),
    Endpoint("PUT", f"{API}/agents/{{user_id:{ID}}}/routing", agents.set_agent_routing_of,
             ADMINS, "Replace an agent's routing (in force from the next decision)", "agents",
             body=AgentRoutingUpdate, response=AGENT_ROUTING),
    # -- wallboard, supervisor actions on contacts, contact reports ------------------------
    Endpoint("GET", f"{API}/wallboard", wallboard.get_wallboard, SUPERVISORS,
             "The live wallboard (the hub's board message; docs/hub.md)", "wallboard",
             response=OBJECT),
    Endpoint("POST", f"{API}/wallboard/staffing", wallboard.staffing_what_if, SUPERVISORS,
             "Agents needed for a queue's target (Erlang C), with any input replaced",
             "wallboard", body=StaffingWhatIf, response=OBJECT),
    Endpoint("POST", f"{API}/contacts/{{contact_id:{CONTACT_ID}}}/move",
             supervision.move_contact, SUPERVISORS,
             "Move a waiting contact to another queue or offer it to an agent (audit-logged)",
             "contacts", body=ContactMove, response=OBJECT),
    Endpoint("POST", f"{API}/contacts/{{contact_id:{CONTACT_ID}}}/priority",
             supervision.change_priority, SUPERVISORS,
             "Change a waiting contact's priority (audit-logged)", "contacts",
             body=ContactPriority, response=OBJECT),
    Endpoint("GET", f"{API}/contacts/{{contact_id:{CONTACT_ID}}}/explanation",
             supervision.explanation, SUPERVISORS,
             "The router's recorded decisions for a contact", "contacts", response=OBJECT),
    Endpoint("PUT", f"{API}/contacts/{{contact_id:{CONTACT_ID}}}/csat",
             supervision.record_csat, SUPERVISORS,
             "Record a customer's satisfaction score (1-5) for a contact (survey integrations)",
             "contacts", body=CsatScore, response=OBJECT),
    Endpoint("GET", f"{API}/reports/contacts", reports.contacts, SUPERVISORS,
             "Contacts per queue, agent or channel by day or hour: SL, ASA, AHT, FCR, CSAT, "
             "not-ready time (JSON or CSV)", "reports", query=ContactsReportQuery,
             response=OBJECT),
    Endpoint("GET", "/", home.home, PUBLIC, "Start page: what runs, the API, how to log in",
             "pages", response={"type": "string"}, media_type="text/html"),
    Endpoint("GET", f"/static/{{name:{static.NAME_PATTERN}}}", static.static_file, PUBLIC,
             "Stylesheets and scripts of the pages", "pages", response={"type": "string"},
             media_type="application/octet-stream"),
    # -- the consoles' pages (HTML; without a session they redirect to /login) -------------
    Endpoint("GET", "/login", login.login_page, PUBLIC, "Login page", "pages",
             response={"type": "string"}, media_type="text/html"),
    Endpoint("POST", "/login", login.login_submit, PUBLIC,
             "Log in from the login form (login-CSRF token and Origin checked)", "pages",
             status=303, response=None, media_type="text/html"),
    Endpoint("POST", "/logout", login.logout_submit, PUBLIC,
             "Log out from a page (the session's CSRF token as a form field)", "pages",
             status=303, response=None, media_type="text/html"),
    Endpoint("GET", "/customers", customer_pages.customer_search, ANY_USER,
             "Customer search page", "pages", response={"type": "string"},
             media_type="text/html"),
    Endpoint("GET", f"/customers/{{customer_id:{ID}}}", customer_pages.customer_profile,
             ANY_USER, "Customer profile page (audit-logged like a screen-pop)", "pages",
             response={"type": "string"}, media_type="text/html"),
    Endpoint("GET", "/status", status.status, PUBLIC,
             "Health of every adapter (200 when all are ok, else 503)", "status",
             response=_object({"ok": {"type": "boolean"}, "services": OBJECT})),
    Endpoint("GET", f"{API}/openapi.json", openapi.serve, ANY_USER,
             "This API's OpenAPI 3.1 description", "meta"),
    # -- chats (docs/chat.md) --------------------------------------------------------------
    Endpoint("GET", f"{API}/chats/{{contact_id:{CONTACT_ID}}}", chats.get_chat, ANY_USER,
             "A chat I hold (supervisors: any chat)", "chats", response=CHAT),
    Endpoint("GET", f"{API}/chats/{{contact_id:{CONTACT_ID}}}/messages", chats.chat_messages,
             ANY_USER, "A chat's messages and notices after a seq, in order", "chats",
             query=ChatMessagesQuery,
             response=_object({"items": {"type": "array", "items": CHAT_MESSAGE},
                               "seq": {"type": "integer"}}, ["items", "seq"])),
    Endpoint("POST", f"{API}/chats/{{contact_id:{CONTACT_ID}}}/messages",
             chats.send_chat_message, AGENTS,
             "Send a message in my chat (idempotent by client_id)", "chats",
             body=ChatSend, max_body=CHAT_MAX_BODY, status=201, response=CHAT_SENT),
    Endpoint("POST", f"{API}/chats/{{contact_id:{CONTACT_ID}}}/typing", chats.chat_typing,
             AGENTS, "Tell the visitor I am typing (off by itself after a few seconds)", "chats",
             body=ChatTypingIn, status=204, response=None),
    Endpoint("POST", f"{API}/chats/{{contact_id:{CONTACT_ID}}}/read", chats.chat_read, AGENTS,
             "I have read the chat up to seq (the visitor sees it)", "chats",
             body=ChatReadIn, status=204, response=None),
    Endpoint("POST", f"{API}/chats/{{contact_id:{CONTACT_ID}}}/transfer", chats.transfer_chat,
             AGENTS, "Transfer my chat to a queue or an agent", "chats", body=ChatTransfer,
             response=OFFER_OUTCOME["properties"]["contact"]),
    Endpoint("POST", f"{API}/chats/{{contact_id:{CONTACT_ID}}}/end", chats.end_chat, AGENTS,
             "End my chat (wrap-up follows)", "chats",
             response=_object({"status": {"type": "string"}}, ["status"])),
    Endpoint("POST", f"{API}/chats/{{contact_id:{CONTACT_ID}}}/attachments",
             chats.upload_chat_file, AGENTS,
             "Send a file in my chat (multipart field 'file')", "chats",
             query=ChatUploadQuery, status=201, response=CHAT_SENT),
    Endpoint("GET", f"{API}/chats/{{contact_id:{CONTACT_ID}}}/attachments/"
             f"{{attachment_id:{ATTACHMENT_ID}}}", chats.chat_file, ANY_USER,
             "A file of a chat I hold (supervisors: any chat)", "chats",
             response={"type": "string"}, media_type="application/octet-stream"),
    Endpoint("GET", f"{API}/canned-responses", canned.list_canned, ANY_USER,
             "Canned responses of a queue, searchable; filled in for one of my chats",
             "canned-responses", query=CannedQuery,
             response=_object({"items": {"type": "array", "items": CANNED}}, ["items"])),
    Endpoint("POST", f"{API}/canned-responses", canned.create_canned, SUPERVISORS,
             "Add a canned response", "canned-responses", body=CannedCreate, status=201,
             response=CANNED),
    Endpoint("PATCH", f"{API}/canned-responses/{{canned_id:{ID}}}", canned.update_canned,
             SUPERVISORS, "Change a canned response", "canned-responses", body=CannedUpdate,
             response=CANNED),
    Endpoint("DELETE", f"{API}/canned-responses/{{canned_id:{ID}}}", canned.delete_canned,
             SUPERVISORS, "Delete a canned response", "canned-responses", status=204,
             response=None),
    # -- the agent console -------------------------------------------------------------
    Endpoint("GET", "/console", console_page.console, AGENTS | SUPERVISORS,
             "Agent console: state, offers with screen-pop, call controls, wrap-up", "pages",
             response={"type": "string"}, media_type="text/html"),
    # -- the chat widget, its sample page, canned responses (docs/chat.md) ----------------
    Endpoint("GET", "/chat/widget.js", chat_widget.widget, PUBLIC,
             "The chat widget a web page embeds with one <script> line", "pages",
             response={"type": "string"}, media_type="text/javascript"),
    Endpoint("GET", "/chat/demo", chat_widget.demo, PUBLIC,
             "A sample web page with the chat widget", "pages",
             response={"type": "string"}, media_type="text/html"),
    Endpoint("GET", "/canned-responses", canned_page.canned_responses, SUPERVISORS,
             "Canned responses page: manage the chats' canned responses per queue", "pages",
             response={"type": "string"}, media_type="text/html"),
    # -- the supervisors' wallboard and reports ---------------------------------------------
    Endpoint("GET", "/wallboard", wallboard_page.wallboard, SUPERVISORS,
             "Wallboard: live queues and agents, charts, staffing what-if, supervisor "
             "actions (?kiosk=1: read-only, large type)", "pages",
             response={"type": "string"}, media_type="text/html"),
    Endpoint("GET", "/reports", reports_page.reports, SUPERVISORS,
             "Reports: contacts per queue, agent or channel, per day or hour; chart, CSV",
             "pages", response={"type": "string"}, media_type="text/html"),
)  # fmt: skip
