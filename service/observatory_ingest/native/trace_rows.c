/* The trace_spans row and trace_events rows of one decoded span, built in C.
 *
 * convert/traces.py (TraceConverter.reference_rows) is the reference: this builds the same rows
 * for the common span and returns None for anything that needs the reference's care (ids it
 * rejects, a time outside the plausible window, a name or text to shorten or clean of NUL
 * characters, links, JSON holding a NUL escape). tests/unit/test_trace_rows.py holds the two to
 * the same output.
 *
 * Ids are BLAKE2b digests of 16 bytes, as hashlib.blake2b(key, digest_size=16) computes them;
 * every key here fits one 128-byte block, which is all blake2b_16 handles. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "module_constants.h"
#include "span_tuple.h"

#define POSTGRES_EPOCH_US 946684800000000LL /* binary timestamps count from 2000-01-01 */
#define MAX_NAME 255                        /* VARCHAR(255) names */
#define MAX_TEXT (1024 * 1024)              /* TEXT columns: generous, so one field cannot take a batch */
#define MAX_KEY 124                         /* span key and a 4-byte event index in one block */

/* Positions in a trace_spans row, a trace_events row and a trace part; each layout is exported by
 * name (SPAN_ROW_LAYOUT, ...) and tests/unit/test_row_layouts.py holds it equal to convert/columns.py. */
enum { ROW_ID, ROW_PROJECT, ROW_TRACE, ROW_SPAN, ROW_PARENT, ROW_NAME, ROW_KIND, ROW_SERVICE, ROW_START, ROW_END,
       ROW_DURATION, ROW_STATUS, ROW_MESSAGE, ROW_ATTRIBUTES, ROW_EVENTS, ROW_LINKS, ROW_RESOURCE, ROW_SCOPE_NAME,
       ROW_SCOPE_VERSION, ROW_TRACE_STATE, ROW_FLAGS, ROW_DROPPED_ATTRIBUTES, ROW_DROPPED_EVENTS, ROW_DROPPED_LINKS,
       ROW_COLUMNS };
static const char *const SpanRowLayout[ROW_COLUMNS] = {
    [ROW_ID] = "id", [ROW_PROJECT] = "project_id", [ROW_TRACE] = "trace_id", [ROW_SPAN] = "span_id",
    [ROW_PARENT] = "parent_span_id", [ROW_NAME] = "name", [ROW_KIND] = "kind", [ROW_SERVICE] = "service_name",
    [ROW_START] = "start_time", [ROW_END] = "end_time", [ROW_DURATION] = "duration_us", [ROW_STATUS] = "status",
    [ROW_MESSAGE] = "status_message", [ROW_ATTRIBUTES] = "attributes", [ROW_EVENTS] = "events",
    [ROW_LINKS] = "links", [ROW_RESOURCE] = "resource_attributes", [ROW_SCOPE_NAME] = "scope_name",
    [ROW_SCOPE_VERSION] = "scope_version", [ROW_TRACE_STATE] = "trace_state", [ROW_FLAGS] = "flags",
    [ROW_DROPPED_ATTRIBUTES] = "dropped_attributes_count", [ROW_DROPPED_EVENTS] = "dropped_events_count",
    [ROW_DROPPED_LINKS] = "dropped_links_count",
};
enum { EVENT_ROW_ID, EVENT_ROW_PROJECT, EVENT_ROW_SPAN, EVENT_ROW_TRACE, EVENT_ROW_NAME, EVENT_ROW_TIME,
       EVENT_ROW_ATTRIBUTES, EVENT_ROW_DROPPED, EVENT_ROW_COLUMNS };
static const char *const EventRowLayout[EVENT_ROW_COLUMNS] = {
    [EVENT_ROW_ID] = "id", [EVENT_ROW_PROJECT] = "project_id", [EVENT_ROW_SPAN] = "span_id",
    [EVENT_ROW_TRACE] = "trace_id", [EVENT_ROW_NAME] = "name", [EVENT_ROW_TIME] = "timestamp",
    [EVENT_ROW_ATTRIBUTES] = "attributes", [EVENT_ROW_DROPPED] = "dropped_attributes_count",
};
enum { PART_ID, PART_PROJECT, PART_TRACE, PART_SERVICE, PART_START, PART_END, PART_STATUS, PART_MESSAGE,
       PART_ROOT_NAME, PART_ATTRIBUTES, PART_RESOURCE, PART_SPANS, PART_FIELDS };
static const char *const TracePartLayout[PART_FIELDS] = {
    [PART_ID] = "id", [PART_PROJECT] = "project_id", [PART_TRACE] = "trace_id", [PART_SERVICE] = "service_name",
    [PART_START] = "start_time", [PART_END] = "end_time", [PART_STATUS] = "status",
    [PART_MESSAGE] = "status_message", [PART_ROOT_NAME] = "root_span_name", [PART_ATTRIBUTES] = "attributes",
    [PART_RESOURCE] = "resource_attributes", [PART_SPANS] = "span_count",
};

static const uint64_t BLAKE2B_IV[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
    0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};

static const uint8_t BLAKE2B_SIGMA[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4}, {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13}, {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11}, {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5}, {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
};

static inline uint64_t rotate_right(uint64_t x, int n) {
    return (x >> n) | (x << (64 - n));
}

static inline void mix(uint64_t *v, int a, int b, int c, int d, uint64_t x, uint64_t y) {
    v[a] += v[b] + x;
    v[d] = rotate_right(v[d] ^ v[a], 32);
    v[c] += v[d];
    v[b] = rotate_right(v[b] ^ v[c], 24);
    v[a] += v[b] + y;
    v[d] = rotate_right(v[d] ^ v[a], 16);
    v[c] += v[d];
    v[b] = rotate_right(v[b] ^ v[c], 63);
}

/* Unkeyed BLAKE2b with a 16-byte digest of a message of at most 128 bytes: one final block. The
 * block's words are read little-endian, as every platform this runs on stores them. */
static void blake2b_16(const uint8_t *message, size_t length, uint8_t digest[16]) {
    uint64_t m[16] = {0}, h[8], v[16];
    memcpy(m, message, length);
    for (int i = 0; i < 8; i++) h[i] = BLAKE2B_IV[i];
    h[0] ^= 0x01010000ULL ^ 16; /* depth 1, fanout 1, no key, digest length 16 */
    for (int i = 0; i < 8; i++) {
        v[i] = h[i];
        v[i + 8] = BLAKE2B_IV[i];
    }
    v[12] ^= (uint64_t)length;
    v[14] = ~v[14]; /* the last block */
    for (int round = 0; round < 12; round++) {
        const uint8_t *s = BLAKE2B_SIGMA[round];
        mix(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
        mix(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
        mix(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
        mix(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
        mix(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
        mix(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
        mix(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
        mix(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    for (int i = 0; i < 8; i++) h[i] ^= v[i] ^ v[i + 8];
    memcpy(digest, h, 16);
}

static PyObject *hex_text(const uint8_t *bytes, Py_ssize_t length) {
    static const char digits[] = "0123456789abcdef";
    PyObject *text = PyUnicode_New(2 * length, 127);
    if (text == NULL) return NULL;
    char *out = (char *)PyUnicode_DATA(text);
    for (Py_ssize_t i = 0; i < length; i++) {
        *out++ = digits[bytes[i] >> 4];
        *out++ = digits[bytes[i] & 15];
    }
    return text;
}

static PyObject *digest_hex(const uint8_t *key, size_t length) {
    uint8_t digest[16];
    blake2b_16(key, length, digest);
    return hex_text(digest, 16);
}

static PyObject *SpanKinds[6];   /* traces.SPAN_KINDS */
static PyObject *StatusNames[3]; /* traces.STATUS_CODES */
static PyObject *EventKeys[4];   /* the keys of an event in a span's events JSON */

/* A name the reference would keep as it is: no NUL, at most `limit` characters. */
static int plain_text(PyObject *text, Py_ssize_t limit) {
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    return length <= limit && PyUnicode_FindChar(text, 0, 0, length, 1) == -1;
}

/* "" as None, else the text, if the reference would keep it as it is; NULL to decline. */
static PyObject *optional_plain_text(PyObject *text, Py_ssize_t limit, int *decline) {
    if (PyUnicode_GET_LENGTH(text) == 0) Py_RETURN_NONE;
    if (!plain_text(text, limit)) {
        *decline = 1;
        return NULL;
    }
    Py_INCREF(text);
    return text;
}

static int holds_nul_escape(const char *data, Py_ssize_t size) {
    const char *end = data + size, *p = data;
    while ((p = memchr(p, '\\', end - p)) != NULL) {
        if (end - p >= 6 && memcmp(p + 1, "u0000", 5) == 0) return 1;
        p += 2; /* an escape is at least two characters */
        if (p >= end) break;
    }
    return 0;
}

/* dumps(value) as text; NULL with *decline set when the JSON holds a NUL escape (the reference
 * removes those). */
static PyObject *json_text(PyObject *dumps, PyObject *value, int *decline) {
    PyObject *encoded = PyObject_CallOneArg(dumps, value);
    if (encoded == NULL) return NULL;
    if (!PyBytes_Check(encoded)) {
        Py_DECREF(encoded);
        PyErr_SetString(PyExc_TypeError, "dumps must return bytes");
        return NULL;
    }
    const char *data = PyBytes_AS_STRING(encoded);
    Py_ssize_t size = PyBytes_GET_SIZE(encoded);
    PyObject *text = NULL;
    if (holds_nul_escape(data, size)) {
        *decline = 1;
    } else {
        text = PyUnicode_DecodeUTF8(data, size, NULL);
    }
    Py_DECREF(encoded);
    return text;
}

/* A tuple of n new references (stolen; NULL items make it fail), out of the collector's sight
 * when it can hold no reference cycle: rows are many, and tracing them costs time for nothing. */
static PyObject *tuple_of(int untrack, Py_ssize_t n, PyObject *const *items) {
    PyObject *tuple = NULL;
    for (Py_ssize_t i = 0; i < n; i++)
        if (items[i] == NULL) goto fail;
    if ((tuple = PyTuple_New(n)) == NULL) goto fail;
    for (Py_ssize_t i = 0; i < n; i++) PyTuple_SET_ITEM(tuple, i, items[i]);
    if (untrack) PyObject_GC_UnTrack(tuple);
    return tuple;
fail:
    for (Py_ssize_t i = 0; i < n; i++) Py_XDECREF(items[i]);
    return NULL;
}

static PyObject *timestamp(uint64_t unix_nanos) {
    PyObject *microseconds = PyLong_FromLongLong((long long)(unix_nanos / 1000) - POSTGRES_EPOCH_US);
    return tuple_of(1, 1, &microseconds);
}

static PyObject *int32_count(PyObject *count) {
    unsigned long long value = PyLong_AsUnsignedLongLong(count);
    if (value == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    return PyLong_FromLongLong(value > INT32_MAX ? INT32_MAX : (long long)value);
}

static int read_u64(PyObject *number, uint64_t *out) {
    unsigned long long value = PyLong_AsUnsignedLongLong(number);
    if (value == (unsigned long long)-1 && PyErr_Occurred()) return -1;
    *out = value;
    return 0;
}

/* Everything one span's rows share, read once from the arguments. */
typedef struct {
    uint8_t key[MAX_KEY + 4]; /* project, trace_id and span_id, then room for an event index */
    size_t key_length;
    PyObject *project_id, *span_uuid, *trace_uuid, *dumps;
    uint64_t start, earliest, latest;
} SpanContext;

/* The span's events: its trace_events rows, the events conversion keeps (traces.SpanEvent) and
 * the dicts of its events JSON. Returns 0, or 1 to decline, or -1 on error. */
static int build_events(SpanContext *span, PyObject *events, PyObject *event_rows, PyObject *kept,
                        PyObject *described) {
    for (Py_ssize_t index = 0; index < PyList_GET_SIZE(events); index++) {
        PyObject *event = PyList_GET_ITEM(events, index);
        if (!PyTuple_Check(event) || PyTuple_GET_SIZE(event) != EVENT_FIELDS) return 1;
        PyObject *name = PyTuple_GET_ITEM(event, EVENT_NAME);
        PyObject *attributes = PyTuple_GET_ITEM(event, EVENT_ATTRIBUTES);
        PyObject *dropped = PyTuple_GET_ITEM(event, EVENT_DROPPED);
        PyObject *time = PyTuple_GET_ITEM(event, EVENT_TIME);
        uint64_t time_ns;
        if (!plain_text(name, MAX_NAME)) return 1;
        if (read_u64(time, &time_ns) < 0) return -1;
        if (time_ns < span->earliest || time_ns > span->latest) time_ns = span->start;
        uint32_t big_endian_index = (uint32_t)index;
        uint8_t *suffix = span->key + span->key_length;
        suffix[0] = big_endian_index >> 24;
        suffix[1] = big_endian_index >> 16;
        suffix[2] = big_endian_index >> 8;
        suffix[3] = big_endian_index;
        int decline = 0;
        PyObject *event_id = digest_hex(span->key, span->key_length + 4);
        PyObject *json = json_text(span->dumps, attributes, &decline);
        PyObject *stored_time = PyLong_FromUnsignedLongLong(time_ns);
        if (event_id == NULL || json == NULL || stored_time == NULL) {
            Py_XDECREF(event_id);
            Py_XDECREF(json);
            Py_XDECREF(stored_time);
            return decline ? 1 : -1;
        }
        /* trace_events holds only text and numbers: an untracked tuple. */
        PyObject *row = tuple_of(1, EVENT_ROW_COLUMNS,
                                 (PyObject *[EVENT_ROW_COLUMNS]){
                                     [EVENT_ROW_ID] = Py_NewRef(event_id),
                                     [EVENT_ROW_PROJECT] = Py_NewRef(span->project_id),
                                     [EVENT_ROW_SPAN] = Py_NewRef(span->span_uuid),
                                     [EVENT_ROW_TRACE] = Py_NewRef(span->trace_uuid),
                                     [EVENT_ROW_NAME] = Py_NewRef(name),
                                     [EVENT_ROW_TIME] = timestamp(time_ns),
                                     [EVENT_ROW_ATTRIBUTES] = Py_NewRef(json),
                                     [EVENT_ROW_DROPPED] = int32_count(dropped),
                                 });
        PyObject *event_kept = tuple_of(0, 6,
                                        (PyObject *[]){Py_NewRef(event_id), Py_NewRef(name), Py_NewRef(stored_time),
                                                       Py_NewRef(attributes), Py_NewRef(json), Py_NewRef(dropped)});
        PyObject *description = PyDict_New();
        int failed = row == NULL || event_kept == NULL || description == NULL ||
                     PyDict_SetItem(description, EventKeys[0], name) < 0 ||
                     PyDict_SetItem(description, EventKeys[1], stored_time) < 0 ||
                     PyDict_SetItem(description, EventKeys[2], attributes) < 0 ||
                     PyDict_SetItem(description, EventKeys[3], dropped) < 0 || PyList_Append(event_rows, row) < 0 ||
                     PyList_Append(kept, event_kept) < 0 || PyList_Append(described, description) < 0;
        Py_DECREF(event_id);
        Py_DECREF(json);
        Py_DECREF(stored_time);
        Py_XDECREF(row);
        Py_XDECREF(event_kept);
        Py_XDECREF(description);
        if (failed) return -1;
    }
    return 0;
}

static PyObject *decline_or_fail(int decline) {
    if (decline && !PyErr_Occurred()) Py_RETURN_NONE;
    return NULL;
}

/* span_rows(span, project, project_id, service, resource_json, scope_name, scope_version,
 *           earliest, latest, dumps)
 * -> (trace_spans row, [trace_events row, ...], [SpanEvent, ...], start_ns, end_ns) or None */
static PyObject *span_rows(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError, "span_rows takes 10 arguments");
        return NULL;
    }
    PyObject *span = args[0], *project = args[1], *service = args[3], *resource_json = args[4];
    PyObject *scope_name = args[5], *scope_version = args[6];
    if (!PyTuple_Check(span) || PyTuple_GET_SIZE(span) != SPAN_FIELDS || !PyBytes_Check(project)) {
        PyErr_SetString(PyExc_TypeError, "span_rows takes a decoded span tuple and the project as bytes");
        return NULL;
    }
    PyObject *trace_id = PyTuple_GET_ITEM(span, SPAN_TRACE_ID), *span_id = PyTuple_GET_ITEM(span, SPAN_SPAN_ID);
    PyObject *parent_id = PyTuple_GET_ITEM(span, SPAN_PARENT_SPAN_ID), *name = PyTuple_GET_ITEM(span, SPAN_NAME);
    PyObject *events = PyTuple_GET_ITEM(span, SPAN_EVENTS), *links = PyTuple_GET_ITEM(span, SPAN_LINKS);
    Py_ssize_t project_length = PyBytes_GET_SIZE(project);
    static const uint8_t zero_id[16] = {0};
    if (PyBytes_GET_SIZE(trace_id) != 16 || PyBytes_GET_SIZE(span_id) != 8 ||
        memcmp(PyBytes_AS_STRING(trace_id), zero_id, 16) == 0 || memcmp(PyBytes_AS_STRING(span_id), zero_id, 8) == 0 ||
        (PyBytes_GET_SIZE(parent_id) != 0 && PyBytes_GET_SIZE(parent_id) != 8) || project_length + 24 > MAX_KEY ||
        PyList_GET_SIZE(links) != 0 || !plain_text(name, MAX_NAME))
        Py_RETURN_NONE;
    SpanContext context = {.project_id = args[2], .dumps = args[9]};
    uint64_t end;
    long long earliest = PyLong_AsLongLong(args[7]), latest = PyLong_AsLongLong(args[8]);
    if (PyErr_Occurred() || read_u64(PyTuple_GET_ITEM(span, SPAN_START), &context.start) < 0 ||
        read_u64(PyTuple_GET_ITEM(span, SPAN_END), &end) < 0)
        return NULL;
    if (earliest < 0 || latest < 0) Py_RETURN_NONE;
    context.earliest = (uint64_t)earliest;
    context.latest = (uint64_t)latest;
    if (context.start < context.earliest || context.start > end || end > context.latest) Py_RETURN_NONE;
    long kind = PyLong_AsLong(PyTuple_GET_ITEM(span, SPAN_KIND));
    long status_code = PyLong_AsLong(PyTuple_GET_ITEM(span, SPAN_STATUS_CODE));
    uint64_t flags;
    if (PyErr_Occurred() || read_u64(PyTuple_GET_ITEM(span, SPAN_FLAGS), &flags) < 0) return NULL;

    memcpy(context.key, PyBytes_AS_STRING(project), project_length);
    memcpy(context.key + project_length, PyBytes_AS_STRING(trace_id), 16);
    memcpy(context.key + project_length + 16, PyBytes_AS_STRING(span_id), 8);
    context.key_length = project_length + 24;

    int decline = 0;
    PyObject *row, *event_rows = NULL, *kept = NULL, *described = NULL, *result = NULL;
    PyObject *columns[ROW_COLUMNS] = {NULL};
    columns[ROW_ID] = context.span_uuid = digest_hex(context.key, context.key_length);
    columns[ROW_TRACE] = context.trace_uuid = hex_text((const uint8_t *)PyBytes_AS_STRING(trace_id), 16);
    event_rows = PyList_New(0);
    kept = PyList_New(0);
    described = PyList_New(0);
    if (columns[ROW_ID] == NULL || columns[ROW_TRACE] == NULL || event_rows == NULL || kept == NULL || described == NULL) goto done;
    int events_built = build_events(&context, events, event_rows, kept, described);
    if (events_built != 0) {
        decline = events_built > 0;
        goto done;
    }
    columns[ROW_PROJECT] = Py_NewRef(context.project_id);
    columns[ROW_SPAN] = hex_text((const uint8_t *)PyBytes_AS_STRING(span_id), 8);
    columns[ROW_PARENT] = PyBytes_GET_SIZE(parent_id) ? hex_text((const uint8_t *)PyBytes_AS_STRING(parent_id), 8)
                                             : Py_NewRef(Py_None);
    columns[ROW_NAME] = Py_NewRef(name);
    columns[ROW_KIND] = Py_NewRef(kind >= 0 && kind < 6 ? SpanKinds[kind] : SpanKinds[0]);
    columns[ROW_SERVICE] = Py_NewRef(service);
    columns[ROW_START] = timestamp(context.start);
    columns[ROW_END] = timestamp(end);
    columns[ROW_DURATION] = PyLong_FromLongLong((long long)((end - context.start) / 1000));
    columns[ROW_STATUS] = Py_NewRef(status_code >= 0 && status_code < 3 ? StatusNames[status_code] : StatusNames[0]);
    columns[ROW_MESSAGE] = optional_plain_text(PyTuple_GET_ITEM(span, SPAN_STATUS_MESSAGE), MAX_TEXT, &decline);
    columns[ROW_ATTRIBUTES] = json_text(context.dumps, PyTuple_GET_ITEM(span, SPAN_ATTRIBUTES), &decline);
    columns[ROW_EVENTS] = PyList_GET_SIZE(described) ? json_text(context.dumps, described, &decline) : Py_NewRef(Py_None);
    columns[ROW_LINKS] = Py_NewRef(Py_None); /* links: declined above */
    columns[ROW_RESOURCE] = Py_NewRef(resource_json);
    columns[ROW_SCOPE_NAME] = Py_NewRef(scope_name);
    columns[ROW_SCOPE_VERSION] = Py_NewRef(scope_version);
    columns[ROW_TRACE_STATE] = optional_plain_text(PyTuple_GET_ITEM(span, SPAN_TRACE_STATE), MAX_TEXT, &decline);
    columns[ROW_FLAGS] = PyLong_FromLong((int32_t)(uint32_t)flags); /* a bit field: the same bits, signed */
    columns[ROW_DROPPED_ATTRIBUTES] = int32_count(PyTuple_GET_ITEM(span, SPAN_DROPPED_ATTRIBUTES));
    columns[ROW_DROPPED_EVENTS] = int32_count(PyTuple_GET_ITEM(span, SPAN_DROPPED_EVENTS));
    columns[ROW_DROPPED_LINKS] = int32_count(PyTuple_GET_ITEM(span, SPAN_DROPPED_LINKS));
    /* The row holds only text, numbers and timestamp tuples: an untracked tuple. */
    row = tuple_of(1, ROW_COLUMNS, columns);
    memset(columns, 0, sizeof columns); /* tuple_of took them, or released them */
    if (row == NULL) goto done;
    result = tuple_of(0, 5,
                      (PyObject *[]){row, event_rows, kept, Py_NewRef(PyTuple_GET_ITEM(span, SPAN_START)),
                                     Py_NewRef(PyTuple_GET_ITEM(span, SPAN_END))});
    row = event_rows = kept = NULL;
done:
    for (int i = 0; i < ROW_COLUMNS; i++) Py_XDECREF(columns[i]);
    Py_XDECREF(event_rows);
    Py_XDECREF(kept);
    Py_XDECREF(described);
    return result != NULL ? result : decline_or_fail(decline);
}


static PyObject *EmptyJson; /* "{}" */

static int status_rank(PyObject *status) {
    if (PyUnicode_CompareWithASCIIString(status, "error") == 0) return 2;
    return PyUnicode_CompareWithASCIIString(status, "ok") == 0;
}

static int set_item(PyObject *list, Py_ssize_t index, PyObject *value) {
    return PyList_SetItem(list, index, Py_NewRef(value));
}

/* add_to_trace_part(parts, row): a span's share of its trace's summary, folded into parts
 * (trace id -> a TRACE_PART_COLUMNS list); the shares of all requests are merged in SQL. Earliest
 * start, latest end, error over ok over unset, the least error message, the root span's name,
 * service and JSON, else the least service name. */
static PyObject *add_to_trace_part(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyDict_Check(args[0]) || !PyTuple_Check(args[1]) || PyTuple_GET_SIZE(args[1]) != ROW_COLUMNS) {
        PyErr_SetString(PyExc_TypeError, "add_to_trace_part(parts: dict, row: trace_spans row)");
        return NULL;
    }
    PyObject *parts = args[0], *row = args[1];
    PyObject *trace = PyTuple_GET_ITEM(row, ROW_TRACE), *service = PyTuple_GET_ITEM(row, ROW_SERVICE);
    PyObject *start = PyTuple_GET_ITEM(row, ROW_START), *end = PyTuple_GET_ITEM(row, ROW_END);
    PyObject *status = PyTuple_GET_ITEM(row, ROW_STATUS), *message = PyTuple_GET_ITEM(row, ROW_MESSAGE);
    PyObject *part = PyDict_GetItemWithError(parts, trace);
    if (part == NULL) {
        if (PyErr_Occurred()) return NULL;
        PyObject *fresh[PART_FIELDS] = {trace,   PyTuple_GET_ITEM(row, ROW_PROJECT), trace, service, start, end,
                                        StatusNames[0], Py_None, Py_None, EmptyJson, EmptyJson, NULL};
        if ((part = PyList_New(PART_FIELDS)) == NULL) return NULL;
        for (int i = 0; i < PART_SPANS; i++) PyList_SET_ITEM(part, i, Py_NewRef(fresh[i]));
        PyObject *none_yet = PyLong_FromLong(0);
        if (none_yet == NULL || PyList_SetItem(part, PART_SPANS, none_yet) < 0 || PyDict_SetItem(parts, trace, part) < 0) {
            Py_DECREF(part);
            return NULL;
        }
        Py_DECREF(part); /* parts holds it */
    }
    Py_ssize_t spans = PyLong_AsSsize_t(PyList_GET_ITEM(part, PART_SPANS));
    if (spans == -1 && PyErr_Occurred()) return NULL;
    PyObject *counted = PyLong_FromSsize_t(spans + 1);
    if (counted == NULL || PyList_SetItem(part, PART_SPANS, counted) < 0) return NULL;
    int earlier = PyObject_RichCompareBool(start, PyList_GET_ITEM(part, PART_START), Py_LT);
    if (earlier < 0 || (earlier && set_item(part, PART_START, start) < 0)) return NULL;
    if (end != Py_None) {
        PyObject *latest = PyList_GET_ITEM(part, PART_END);
        int later = latest == Py_None ? 1 : PyObject_RichCompareBool(latest, end, Py_LT);
        if (later < 0 || (later && set_item(part, PART_END, end) < 0)) return NULL;
    }
    int rank = status_rank(status);
    if (rank > status_rank(PyList_GET_ITEM(part, PART_STATUS)) && set_item(part, PART_STATUS, status) < 0) return NULL;
    if (rank == 2 && message != Py_None) {
        PyObject *least = PyList_GET_ITEM(part, PART_MESSAGE);
        int less = least == Py_None ? 1 : PyObject_RichCompareBool(message, least, Py_LT);
        if (less < 0 || (less && set_item(part, PART_MESSAGE, message) < 0)) return NULL;
    }
    if (PyList_GET_ITEM(part, PART_ROOT_NAME) != Py_None) Py_RETURN_NONE; /* the root span named it */
    if (PyTuple_GET_ITEM(row, ROW_PARENT) == Py_None) {
        if (set_item(part, PART_SERVICE, service) < 0 || set_item(part, PART_ROOT_NAME, PyTuple_GET_ITEM(row, ROW_NAME)) < 0 ||
            set_item(part, PART_ATTRIBUTES, PyTuple_GET_ITEM(row, ROW_ATTRIBUTES)) < 0 ||
            set_item(part, PART_RESOURCE, PyTuple_GET_ITEM(row, ROW_RESOURCE)) < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    int lesser = PyObject_RichCompareBool(service, PyList_GET_ITEM(part, PART_SERVICE), Py_LT);
    if (lesser < 0 || (lesser && set_item(part, PART_SERVICE, service) < 0)) return NULL;
    Py_RETURN_NONE;
}

/* blake2b_16(data) -> the digest, as hashlib.blake2b(data, digest_size=16).digest() (for tests). */
static PyObject *blake2b_16_digest(PyObject *Py_UNUSED(module), PyObject *data) {
    if (!PyBytes_Check(data) || PyBytes_GET_SIZE(data) > 128) {
        PyErr_SetString(PyExc_ValueError, "blake2b_16 takes bytes, at most 128 of them");
        return NULL;
    }
    uint8_t digest[16];
    blake2b_16((const uint8_t *)PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), digest);
    return PyBytes_FromStringAndSize((const char *)digest, 16);
}

static PyMethodDef methods[] = {
    {"span_rows", (PyCFunction)(void (*)(void))span_rows, METH_FASTCALL,
     "span_rows(span, project, project_id, service, resource_json, scope_name, scope_version, earliest, "
     "latest, dumps) -> (row, event_rows, events, start_ns, end_ns) or None"},
    {"add_to_trace_part", (PyCFunction)(void (*)(void))add_to_trace_part, METH_FASTCALL,
     "add_to_trace_part(parts, row): fold a trace_spans row into its trace's part"},
    {"blake2b_16", blake2b_16_digest, METH_O, "blake2b_16(data) -> 16-byte BLAKE2b digest"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT, "_trace_rows", "trace_spans, trace_events and trace part rows of decoded spans.", -1, methods,
    NULL, NULL, NULL, NULL,
};

static int intern_all(PyObject **slots, const char *const *texts, int count) {
    for (int i = 0; i < count; i++)
        if ((slots[i] = PyUnicode_InternFromString(texts[i])) == NULL) return -1;
    return 0;
}

PyMODINIT_FUNC PyInit__trace_rows(void) {
    static const char *const kinds[] = {"unspecified", "internal", "server", "client", "producer", "consumer"};
    static const char *const statuses[] = {"unset", "ok", "error"};
    static const char *const event_keys[] = {"name", "time_unix_nano", "attributes", "dropped_attributes_count"};
    if (intern_all(SpanKinds, kinds, 6) < 0 || intern_all(StatusNames, statuses, 3) < 0 ||
        intern_all(EventKeys, event_keys, 4) < 0 || (EmptyJson = PyUnicode_InternFromString("{}")) == NULL)
        return NULL;
    PyObject *module = PyModule_Create(&module_definition);
    if (module == NULL || add_layout(module, "SPAN_ROW_LAYOUT", SpanRowLayout, ROW_COLUMNS) < 0 ||
        add_layout(module, "EVENT_ROW_LAYOUT", EventRowLayout, EVENT_ROW_COLUMNS) < 0 ||
        add_layout(module, "TRACE_PART_LAYOUT", TracePartLayout, PART_FIELDS) < 0 ||
        PyModule_AddIntConstant(module, "MAX_NAME", MAX_NAME) < 0 ||
        PyModule_AddIntConstant(module, "MAX_TEXT", MAX_TEXT) < 0 ||
        add_owned(module, "POSTGRES_EPOCH_US", PyLong_FromLongLong(POSTGRES_EPOCH_US)) < 0) {
        Py_XDECREF(module);
        return NULL;
    }
    return module;
}
