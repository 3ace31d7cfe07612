/* Positions in the span tuple the decoder builds and the row builder reads (convert/wire.py names
 * them for Python). */
#ifndef SPAN_TUPLE_H
#define SPAN_TUPLE_H

enum {
    SPAN_TRACE_ID, SPAN_SPAN_ID, SPAN_TRACE_STATE, SPAN_PARENT_SPAN_ID, SPAN_FLAGS, SPAN_NAME,
    SPAN_KIND, SPAN_START, SPAN_END, SPAN_ATTRIBUTES, SPAN_DROPPED_ATTRIBUTES, SPAN_EVENTS,
    SPAN_DROPPED_EVENTS, SPAN_LINKS, SPAN_DROPPED_LINKS, SPAN_STATUS_MESSAGE, SPAN_STATUS_CODE,
    SPAN_FIELDS
};

/* Positions in an event tuple: (time_unix_nano, name, attributes, dropped_attributes_count). */
enum { EVENT_TIME, EVENT_NAME, EVENT_ATTRIBUTES, EVENT_DROPPED, EVENT_FIELDS };

#endif
