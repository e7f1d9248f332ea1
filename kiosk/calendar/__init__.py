"""The room calendar: read a room's bookings, map them to sessions, decide when to join and leave.

* :mod:`kiosk.calendar.meetings` — :class:`Meeting` (one occurrence, aware datetimes) and bounds.
* :mod:`kiosk.calendar.links` — which session (if any) an event names, on *this* server only.
* :mod:`kiosk.calendar.ics` — iCalendar text → meetings (``icalendar`` + ``recurring-ical-events``).
* :mod:`kiosk.calendar.sources` — ICS URL and CalDAV sources (the only module importing httpx).
* :mod:`kiosk.calendar.scheduler` — pure join/leave decisions from now, meetings and call facts.
* :mod:`kiosk.calendar.service` — refresh on an interval with backoff; keeps the last good
  schedule when the calendar cannot be read, and says so.
"""
