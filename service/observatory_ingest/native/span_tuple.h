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

/* The same positions by name, exported as SPAN_TUPLE_LAYOUT and EVENT_TUPLE_LAYOUT (convert/wire.py
 * declares them for Python; tests/unit/test_row_layouts.py holds the two equal). */
#define SPAN_TUPLE_NAMES                                                                                   \
    {[SPAN_TRACE_ID] = "trace_id", [SPAN_SPAN_ID] = "span_id", [SPAN_TRACE_STATE] = "trace_state",         \
     [SPAN_PARENT_SPAN_ID] = "parent_span_id", [SPAN_FLAGS] = "flags", [SPAN_NAME] = "name",               \
     [SPAN_KIND] = "kind", [SPAN_START] = "start_time_unix_nano", [SPAN_END] = "end_time_unix_nano",       \
     [SPAN_ATTRIBUTES] = "attributes", [SPAN_DROPPED_ATTRIBUTES] = "dropped_attributes_count",             \
     [SPAN_EVENTS] = "events", [SPAN_DROPPED_EVENTS] = "dropped_events_count", [SPAN_LINKS] = "links",     \
     [SPAN_DROPPED_LINKS] = "dropped_links_count", [SPAN_STATUS_MESSAGE] = "status_message",               \
     [SPAN_STATUS_CODE] = "status_code"}
#define EVENT_TUPLE_NAMES                                                                                  \
    {[EVENT_TIME] = "time_unix_nano", [EVENT_NAME] = "name", [EVENT_ATTRIBUTES] = "attributes",            \
     [EVENT_DROPPED] = "dropped_attributes_count"}

#endif
