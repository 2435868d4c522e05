"""The security endpoints: a schema parses the request (:mod:`luffy.markers`), a service
of :mod:`luffy.core` does the work, the answer is shaped."""

from flask import jsonify

from luffy.core import events
from luffy.core.guard import login_required
from luffy.markers import answers, query
from luffy.security import bp
from luffy.security.schemas import EventSchema, EventsQuerySchema, EventsSchema

EVENTS = EventSchema(many=True)  # schemas hold no per-call state: built once


@bp.get("/events")
@answers(EventsSchema, errors=(503,))
@login_required
@query(EventsQuerySchema)
def list_events(account, before):
    """The account's security log, newest first, 50 a page; ``?before=<id>`` pages back."""
    found, more = events.page(account.id, before)
    return jsonify({"events": EVENTS.dump(found), "more": more})
