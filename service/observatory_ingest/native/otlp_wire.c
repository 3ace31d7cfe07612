/* Decodes ExportTraceServiceRequest wire bytes straight into plain Python objects.
 *
 * Reading a span through the protobuf runtime's Python objects costs about a microsecond per
 * field touched; this reads the wire format once and builds tuples, dicts and strings directly.
 * The shapes returned are named in convert/wire.py; tests/unit/test_wire.py compares them with
 * what the protobuf runtime decodes from the same bytes.
 *
 * Semantics follow the protobuf runtime: unknown fields and fields of an unexpected wire type
 * are skipped, scalars and oneofs take the last value on the wire, repeated fields accumulate,
 * strings must be valid UTF-8. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "module_constants.h"
#include "span_tuple.h"

#define MAX_DEPTH 16 /* nesting of AnyValue arrays and key-value lists kept (common.MAX_DEPTH) */
#define MAX_GROUP_DEPTH 64
#define MAX_NESTING 101 /* messages within messages, the request included: the runtime's limit */

enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2, WIRE_START_GROUP = 3, WIRE_END_GROUP = 4, WIRE_FIXED32 = 5 };

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
    int nesting; /* how many messages deep this one is, the request being 1 */
} Reader;

/* What every decode call shares: the attribute byte cap and how to apply it. */
typedef struct {
    Py_ssize_t max_bytes;
    PyObject *capped_value; /* callable(value, max_bytes, is_text) -> capped value */
} Options;

static PyObject *DecodeError;
static PyObject *TooDeep;   /* the marker string that replaces values nested too deep */
static PyObject *EmptyText; /* "" */

static int fail(const char *what) {
    PyErr_SetString(DecodeError, what);
    return -1;
}

static int read_varint(Reader *r, uint64_t *out) {
    uint64_t value = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end) return fail("truncated varint");
        uint8_t byte = *r->p++;
        value |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *out = value;
            return 0;
        }
    }
    return fail("varint longer than 10 bytes");
}

/* fixed32 or fixed64 into *out (size 4 or 8): the wire is little-endian, like every platform
 * this runs on. */
static int read_fixed(Reader *r, void *out, Py_ssize_t size) {
    if (r->end - r->p < size) return fail("truncated fixed-width field");
    memcpy(out, r->p, size);
    r->p += size;
    return 0;
}

static int read_length_delimited(Reader *r, Reader *inner) {
    uint64_t length;
    if (read_varint(r, &length) < 0) return -1;
    if (length > (uint64_t)(r->end - r->p)) return fail("length-delimited field runs past its message");
    inner->p = r->p;
    inner->end = r->p + length;
    inner->nesting = r->nesting + 1;
    r->p += length;
    return 0;
}

static int read_tag(Reader *r, uint32_t *field, int *wire_type) {
    uint64_t tag;
    if (r->nesting > MAX_NESTING) return fail("messages nested too deep");
    if (read_varint(r, &tag) < 0) return -1;
    *field = (uint32_t)(tag >> 3);
    *wire_type = (int)(tag & 7);
    if (*field == 0 || tag >> 32) return fail("invalid field number");
    return 0;
}

static int skip_field(Reader *r, uint32_t field, int wire_type, int depth) {
    uint64_t ignored;
    Reader inner;
    switch (wire_type) {
    case WIRE_VARINT:
        return read_varint(r, &ignored);
    case WIRE_FIXED64:
        return read_fixed(r, &ignored, 8);
    case WIRE_LEN:
        return read_length_delimited(r, &inner);
    case WIRE_FIXED32:
        return read_fixed(r, &ignored, 4);
    case WIRE_START_GROUP:
        if (depth >= MAX_GROUP_DEPTH) return fail("groups nested too deep");
        while (r->p < r->end) {
            /* Inside a skipped group the runtime accepts field number 0 too, so read raw tags. */
            uint64_t tag;
            if (read_varint(r, &tag) < 0) return -1;
            uint32_t inner_field = (uint32_t)(tag >> 3);
            int inner_type = (int)(tag & 7);
            if (inner_type == WIRE_END_GROUP) {
                if (inner_field != field) return fail("mismatched end-group tag");
                return 0;
            }
            if (skip_field(r, inner_field, inner_type, depth + 1) < 0) return -1;
        }
        return fail("unterminated group");
    default:
        return fail("unexpected end-group tag or invalid wire type");
    }
}

static PyObject *empty_text(void) {
    Py_INCREF(EmptyText);
    return EmptyText;
}

static PyObject *empty_bytes(void) {
    return PyBytes_FromStringAndSize(NULL, 0);
}

static PyObject *empty_list(void) {
    return PyList_New(0);
}

/* A field absent from the wire gets its default: "", b"", {} or []. */
static int or_default(PyObject **slot, PyObject *(*make_default)(void)) {
    if (*slot == NULL && (*slot = make_default()) == NULL) return -1;
    return 0;
}

static PyObject *text_from(Reader *field) {
    Py_ssize_t length = field->end - field->p;
    if (length == 0) return empty_text();
    return PyUnicode_DecodeUTF8((const char *)field->p, length, NULL);
}

/* Attribute keys and span and event names repeat from span to span: each distinct short ASCII
 * one is decoded and hashed once, then shared (str objects are immutable). A fixed table, a slot
 * per hash of the bytes, a newcomer replacing whatever held its slot: bounded whatever clients
 * send. */
#define CACHE_SLOTS 4096
#define CACHE_MAX_LENGTH 64

static PyObject *TextCache[CACHE_SLOTS];

static PyObject *shared_text_from(Reader *field) {
    Py_ssize_t length = field->end - field->p;
    if (length == 0 || length > CACHE_MAX_LENGTH) return text_from(field);
    uint64_t hash = 14695981039346656037ULL; /* FNV-1a */
    for (const uint8_t *p = field->p; p < field->end; p++) hash = (hash ^ *p) * 1099511628211ULL;
    PyObject **slot = &TextCache[(hash ^ (hash >> 32)) & (CACHE_SLOTS - 1)];
    PyObject *cached = *slot;
    if (cached != NULL && PyUnicode_GET_LENGTH(cached) == length &&
        memcmp(PyUnicode_DATA(cached), field->p, length) == 0) {
        Py_INCREF(cached);
        return cached;
    }
    PyObject *text = text_from(field);
    if (text == NULL || !PyUnicode_IS_ASCII(text)) return text; /* ASCII: its bytes are its data */
    if (PyObject_Hash(text) == -1) { /* computed now, kept by the object for every dict it enters */
        Py_DECREF(text);
        return NULL;
    }
    Py_INCREF(text);
    Py_XSETREF(*slot, text);
    return text;
}

/* A string field that is not kept must still be valid UTF-8, as the runtime insists. */
static int check_text(Reader *field) {
    PyObject *decoded = text_from(field);
    if (decoded == NULL) return -1;
    Py_DECREF(decoded);
    return 0;
}

/* A message whose length-delimited fields are all strings (EntityRef): only checked. */
static int check_string_fields(Reader *r) {
    while (r->p < r->end) {
        uint64_t tag;
        Reader payload;
        if (read_varint(r, &tag) < 0) return -1;
        if ((tag >> 3) == 0) return fail("invalid field number");
        if ((tag & 7) == WIRE_LEN) {
            if (read_length_delimited(r, &payload) < 0 || check_text(&payload) < 0) return -1;
        } else if (skip_field(r, (uint32_t)(tag >> 3), (int)(tag & 7), 0) < 0) {
            return -1;
        }
    }
    return 0;
}

static PyObject *bytes_from(Reader *field) {
    return PyBytes_FromStringAndSize((const char *)field->p, field->end - field->p);
}

/* Replaces *slot with a new reference (the last value on the wire wins). */
static int store(PyObject **slot, PyObject *value) {
    if (value == NULL) return -1;
    Py_XSETREF(*slot, value);
    return 0;
}

/* A singular message field sent more than once: the runtime parses every occurrence into the same
 * message, which is parsing the occurrences in order. They are kept as segments, not joined, so
 * n occurrences cost O(n) whatever their count (joining them cost O(n^2)). */
typedef struct {
    Reader *items;
    Py_ssize_t count, capacity;
    Reader inline_items[2];
} Segments;

static void segments_init(Segments *s) {
    s->items = s->inline_items;
    s->count = 0;
    s->capacity = 2;
}

static void segments_free(Segments *s) {
    if (s->items != s->inline_items) PyMem_Free(s->items);
    segments_init(s);
}

static int segments_append(Segments *s, const Reader *r) {
    if (s->count == s->capacity) {
        Py_ssize_t capacity = s->capacity * 2;
        Reader *items = s->items == s->inline_items ? PyMem_New(Reader, capacity)
                                                    : PyMem_Realloc(s->items, (size_t)capacity * sizeof(Reader));
        if (items != NULL && s->items == s->inline_items) memcpy(items, s->inline_items, sizeof s->inline_items);
        if (items == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        s->items = items;
        s->capacity = capacity;
    }
    s->items[s->count++] = *r;
    return 0;
}

/* The field's value is this occurrence alone (a new oneof member, or a scalar: the last wins). */
static void segments_replace(Segments *s, const Reader *r) {
    s->count = 0;
    s->items[s->count++] = *r; /* capacity is at least 2 */
}

static Py_ssize_t segments_size(const Segments *s) {
    Py_ssize_t size = 0;
    for (Py_ssize_t i = 0; i < s->count; i++) size += s->items[i].end - s->items[i].p;
    return size;
}

static PyObject *base64_text(Reader *field) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    Py_ssize_t length = field->end - field->p;
    PyObject *result = PyUnicode_New(((length + 2) / 3) * 4, 127);
    if (result == NULL) return NULL;
    char *out = (char *)PyUnicode_DATA(result);
    const uint8_t *in = field->p;
    Py_ssize_t i = 0;
    for (; i + 2 < length; i += 3) {
        uint32_t triple = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *out++ = alphabet[triple >> 18];
        *out++ = alphabet[(triple >> 12) & 63];
        *out++ = alphabet[(triple >> 6) & 63];
        *out++ = alphabet[triple & 63];
    }
    if (i < length) {
        uint32_t triple = (uint32_t)in[i] << 16 | (i + 1 < length ? (uint32_t)in[i + 1] << 8 : 0);
        *out++ = alphabet[triple >> 18];
        *out++ = alphabet[(triple >> 12) & 63];
        *out++ = i + 1 < length ? alphabet[(triple >> 6) & 63] : '=';
        *out++ = '=';
    }
    return result;
}

static PyObject *any_value(const Segments *message, int depth, int *kind_seen);

static int add_key_value(PyObject *dict, Reader *message, int depth, const Options *options);

/* The items of an ArrayValue or KeyValueList (field 1 of each), whatever its occurrences. */
static PyObject *array_or_kvlist(const Segments *occurrences, int is_array, int depth) {
    PyObject *result = is_array ? PyList_New(0) : PyDict_New();
    if (result == NULL) return NULL;
    for (Py_ssize_t i = 0; i < occurrences->count; i++) {
        Reader payload = occurrences->items[i];
        while (payload.p < payload.end) {
            uint32_t field;
            int wire_type;
            Reader item;
            if (read_tag(&payload, &field, &wire_type) < 0) goto error;
            if (field != 1 || wire_type != WIRE_LEN) {
                if (skip_field(&payload, field, wire_type, 0) < 0) goto error;
                continue;
            }
            if (read_length_delimited(&payload, &item) < 0) goto error;
            if (is_array) {
                Segments single;
                segments_init(&single);
                segments_replace(&single, &item);
                PyObject *value = any_value(&single, depth + 1, NULL);
                if (value == NULL) goto error;
                int appended = PyList_Append(result, value);
                Py_DECREF(value);
                if (appended < 0) goto error;
            } else if (add_key_value(result, &item, depth + 1, NULL) < 0) {
                goto error;
            }
        }
    }
    if (depth >= MAX_DEPTH) { /* read all the same: the bytes must be valid */
        Py_INCREF(TooDeep);
        Py_SETREF(result, TooDeep);
    }
    return result;
error:
    Py_DECREF(result);
    return NULL;
}

/* AnyValue -> str | int | float | bool | list | dict | None, as convert.common.any_value. */
static PyObject *any_value(const Segments *message, int depth, int *kind_seen) {
    int kind = 0; /* the oneof field number seen last */
    Segments payload; /* the chosen member's occurrences: several only for arrays and kvlists */
    uint64_t number = 0;
    PyObject *result = NULL;
    segments_init(&payload);
    for (Py_ssize_t i = 0; i < message->count; i++) {
        Reader r = message->items[i];
        while (r.p < r.end) {
            uint32_t field;
            int wire_type;
            Reader next;
            if (read_tag(&r, &field, &wire_type) < 0) goto error;
            /* 8 (string_value_strindex, a profiles string-table index) is in the oneof too. */
            int expected = (field == 2 || field == 3 || field == 8) ? WIRE_VARINT : field == 4 ? WIRE_FIXED64 : WIRE_LEN;
            if (field < 1 || field > 8 || wire_type != expected) {
                if (skip_field(&r, field, wire_type, 0) < 0) goto error;
                continue;
            }
            if (expected == WIRE_VARINT) {
                if (read_varint(&r, &number) < 0) goto error;
            } else if (expected == WIRE_FIXED64) {
                if (read_fixed(&r, &number, 8) < 0) goto error;
            } else {
                if (read_length_delimited(&r, &next) < 0) goto error;
                if ((field == 5 || field == 6) && kind == (int)field) {
                    if (segments_append(&payload, &next) < 0) goto error;
                } else {
                    segments_replace(&payload, &next);
                }
            }
            kind = (int)field;
        }
    }
    if (kind_seen != NULL) *kind_seen = kind;
    switch (kind) {
    case 1:
        result = text_from(&payload.items[0]);
        break;
    case 2:
        result = PyBool_FromLong(number != 0);
        break;
    case 3:
        result = PyLong_FromLongLong((long long)(int64_t)number);
        break;
    case 4: {
        double value;
        memcpy(&value, &number, sizeof value);
        result = PyFloat_FromDouble(value);
        break;
    }
    case 5:
    case 6:
        result = array_or_kvlist(&payload, kind == 5, depth);
        break;
    case 7:
        result = base64_text(&payload.items[0]);
        break;
    default:
        result = Py_None;
        Py_INCREF(result);
    }
error:
    segments_free(&payload);
    return result;
}

/* One KeyValue into dict. With options (an attribute list's top level), values above the byte
 * cap are capped as convert.common.attributes does; nested key-value lists pass NULL. */
static int add_key_value(PyObject *dict, Reader *r, int depth, const Options *options) {
    PyObject *key = NULL, *value = NULL;
    Segments value_occurrences;
    segments_init(&value_occurrences);
    while (r->p < r->end) {
        uint32_t field;
        int wire_type;
        Reader payload;
        if (read_tag(r, &field, &wire_type) < 0) goto error;
        if ((field != 1 && field != 2) || wire_type != WIRE_LEN) {
            if (skip_field(r, field, wire_type, 0) < 0) goto error;
            continue;
        }
        if (read_length_delimited(r, &payload) < 0) goto error;
        if (field == 1) {
            if (store(&key, shared_text_from(&payload)) < 0) goto error;
        } else if (segments_append(&value_occurrences, &payload) < 0) {
            goto error;
        }
    }
    or_default(&key, empty_text);
    if (value_occurrences.count > 0) {
        int kind = 0;
        value = any_value(&value_occurrences, depth, &kind);
        if (value == NULL) goto error;
        if (options != NULL && (kind == 1 || (kind >= 5 && kind <= 7))) {
            /* Strings by characters, arrays, key-value lists and bytes by encoded size, as
             * convert.common.attributes measures them. */
            int over = kind == 1 ? PyUnicode_GET_LENGTH(value) > options->max_bytes
                                 : segments_size(&value_occurrences) > options->max_bytes;
            if (over) {
                PyObject *capped = PyObject_CallFunction(options->capped_value, "OnO", value, options->max_bytes,
                                                         kind == 1 ? Py_True : Py_False);
                if (store(&value, capped) < 0) goto error;
            }
        }
    } else {
        value = Py_None;
        Py_INCREF(value);
    }
    if (PyDict_SetItem(dict, key, value) < 0) goto error;
    Py_DECREF(key);
    Py_DECREF(value);
    segments_free(&value_occurrences);
    return 0;
error:
    Py_XDECREF(key);
    Py_XDECREF(value);
    segments_free(&value_occurrences);
    return -1;
}

/* A repeated KeyValue field's next element, into *dict (created on first use). */
static int add_attribute(PyObject **dict, Reader *r, const Options *options) {
    Reader item;
    if (read_length_delimited(r, &item) < 0) return -1;
    if (or_default(dict, PyDict_New) < 0) return -1;
    return add_key_value(*dict, &item, 0, options);
}


static PyObject *unsigned_long(uint64_t value) {
    return PyLong_FromUnsignedLongLong(value);
}

/* Event -> (time_unix_nano, name, attributes, dropped_attributes_count) */
static PyObject *decode_event(Reader *r, const Options *options) {
    uint64_t time = 0, dropped = 0;
    PyObject *name = NULL, *attributes = NULL;
    while (r->p < r->end) {
        uint32_t field;
        int wire_type;
        Reader payload;
        if (read_tag(r, &field, &wire_type) < 0) goto error;
        if (field == 1 && wire_type == WIRE_FIXED64) {
            if (read_fixed(r, &time, 8) < 0) goto error;
        } else if (field == 2 && wire_type == WIRE_LEN) {
            if (read_length_delimited(r, &payload) < 0 || store(&name, shared_text_from(&payload)) < 0) goto error;
        } else if (field == 3 && wire_type == WIRE_LEN) {
            if (add_attribute(&attributes, r, options) < 0) goto error;
        } else if (field == 4 && wire_type == WIRE_VARINT) {
            if (read_varint(r, &dropped) < 0) goto error;
        } else if (skip_field(r, field, wire_type, 0) < 0) {
            goto error;
        }
    }
    or_default(&name, empty_text);
    if (or_default(&attributes, PyDict_New) < 0) goto error;
    return Py_BuildValue("(NNNN)", unsigned_long(time), name, attributes, unsigned_long((uint32_t)dropped));
error:
    Py_XDECREF(name);
    Py_XDECREF(attributes);
    return NULL;
}

/* Link -> (trace_id, span_id, trace_state, attributes, dropped_attributes_count, flags) */
static PyObject *decode_link(Reader *r, const Options *options) {
    uint64_t dropped = 0;
    uint32_t flags = 0;
    PyObject *trace_id = NULL, *span_id = NULL, *trace_state = NULL, *attributes = NULL;
    while (r->p < r->end) {
        uint32_t field;
        int wire_type;
        Reader payload;
        if (read_tag(r, &field, &wire_type) < 0) goto error;
        if (field == 4 && wire_type == WIRE_LEN) {
            if (add_attribute(&attributes, r, options) < 0) goto error;
        } else if (field <= 3 && wire_type == WIRE_LEN) {
            if (read_length_delimited(r, &payload) < 0) goto error;
            PyObject **slot = field == 1 ? &trace_id : field == 2 ? &span_id : &trace_state;
            if (store(slot, field == 3 ? text_from(&payload) : bytes_from(&payload)) < 0) goto error;
        } else if (field == 5 && wire_type == WIRE_VARINT) {
            if (read_varint(r, &dropped) < 0) goto error;
        } else if (field == 6 && wire_type == WIRE_FIXED32) {
            if (read_fixed(r, &flags, 4) < 0) goto error;
        } else if (skip_field(r, field, wire_type, 0) < 0) {
            goto error;
        }
    }
    or_default(&trace_state, empty_text);
    if (or_default(&trace_id, empty_bytes) < 0 || or_default(&span_id, empty_bytes) < 0 ||
        or_default(&attributes, PyDict_New) < 0)
        goto error;
    return Py_BuildValue("(NNNNNN)", trace_id, span_id, trace_state, attributes,
                         unsigned_long((uint32_t)dropped), unsigned_long(flags));
error:
    Py_XDECREF(trace_id);
    Py_XDECREF(span_id);
    Py_XDECREF(trace_state);
    Py_XDECREF(attributes);
    return NULL;
}

static int append_decoded(PyObject **list, PyObject *item) {
    if (item == NULL) return -1;
    if (or_default(list, empty_list) < 0) {
        Py_DECREF(item);
        return -1;
    }
    int appended = PyList_Append(*list, item);
    Py_DECREF(item);
    return appended;
}


static int decode_status(Reader *r, PyObject **message, int32_t *code) {
    while (r->p < r->end) {
        uint32_t field;
        int wire_type;
        Reader payload;
        uint64_t number;
        if (read_tag(r, &field, &wire_type) < 0) return -1;
        if (field == 2 && wire_type == WIRE_LEN) {
            if (read_length_delimited(r, &payload) < 0 || store(message, text_from(&payload)) < 0) return -1;
        } else if (field == 3 && wire_type == WIRE_VARINT) {
            if (read_varint(r, &number) < 0) return -1;
            *code = (int32_t)number;
        } else if (skip_field(r, field, wire_type, 0) < 0) {
            return -1;
        }
    }
    return 0;
}

static PyObject *decode_span(Reader *r, const Options *options) {
    PyObject *objects[SPAN_FIELDS] = {NULL};
    uint64_t start = 0, end = 0, dropped_attributes = 0, dropped_events = 0, dropped_links = 0, kind = 0;
    uint32_t flags = 0;
    int32_t status_code = 0;
    while (r->p < r->end) {
        uint32_t field;
        int wire_type;
        Reader payload;
        if (read_tag(r, &field, &wire_type) < 0) goto error;
        if (wire_type == WIRE_LEN && (field <= 5 || field == 9 || field == 11 || field == 13 || field == 15)) {
            if (field == 9) {
                if (add_attribute(&objects[SPAN_ATTRIBUTES], r, options) < 0) goto error;
                continue;
            }
            if (read_length_delimited(r, &payload) < 0) goto error;
            switch (field) {
            case 1: /* trace_id, span_id, trace_state, parent_span_id, name */
            case 2:
            case 3:
            case 4:
            case 5: {
                static const int slot_of[] = {-1, SPAN_TRACE_ID, SPAN_SPAN_ID, SPAN_TRACE_STATE,
                                              SPAN_PARENT_SPAN_ID, SPAN_NAME};
                PyObject *value = field == 5 ? shared_text_from(&payload)
                                  : field == 3 ? text_from(&payload)
                                               : bytes_from(&payload);
                if (store(&objects[slot_of[field]], value) < 0) goto error;
                break;
            }
            case 11:
                if (append_decoded(&objects[SPAN_EVENTS], decode_event(&payload, options)) < 0) goto error;
                break;
            case 13:
                if (append_decoded(&objects[SPAN_LINKS], decode_link(&payload, options)) < 0) goto error;
                break;
            case 15:
                if (decode_status(&payload, &objects[SPAN_STATUS_MESSAGE], &status_code) < 0) goto error;
                break;
            }
        } else if (wire_type == WIRE_FIXED64 && (field == 7 || field == 8)) {
            if (read_fixed(r, field == 7 ? &start : &end, 8) < 0) goto error;
        } else if (wire_type == WIRE_FIXED32 && field == 16) {
            if (read_fixed(r, &flags, 4) < 0) goto error;
        } else if (wire_type == WIRE_VARINT && (field == 6 || field == 10 || field == 12 || field == 14)) {
            uint64_t *target = field == 6    ? &kind
                               : field == 10 ? &dropped_attributes
                               : field == 12 ? &dropped_events
                                             : &dropped_links;
            if (read_varint(r, target) < 0) goto error;
        } else if (skip_field(r, field, wire_type, 0) < 0) {
            goto error;
        }
    }
    or_default(&objects[SPAN_TRACE_STATE], empty_text);
    or_default(&objects[SPAN_NAME], empty_text);
    or_default(&objects[SPAN_STATUS_MESSAGE], empty_text);
    if (or_default(&objects[SPAN_TRACE_ID], empty_bytes) < 0 || or_default(&objects[SPAN_SPAN_ID], empty_bytes) < 0 ||
        or_default(&objects[SPAN_PARENT_SPAN_ID], empty_bytes) < 0 ||
        or_default(&objects[SPAN_ATTRIBUTES], PyDict_New) < 0 || or_default(&objects[SPAN_EVENTS], empty_list) < 0 ||
        or_default(&objects[SPAN_LINKS], empty_list) < 0)
        goto error;
    if ((objects[SPAN_FLAGS] = unsigned_long(flags)) == NULL) goto error;
    if ((objects[SPAN_KIND] = PyLong_FromLong((int32_t)kind)) == NULL) goto error;
    if ((objects[SPAN_START] = unsigned_long(start)) == NULL) goto error;
    if ((objects[SPAN_END] = unsigned_long(end)) == NULL) goto error;
    if ((objects[SPAN_DROPPED_ATTRIBUTES] = unsigned_long((uint32_t)dropped_attributes)) == NULL) goto error;
    if ((objects[SPAN_DROPPED_EVENTS] = unsigned_long((uint32_t)dropped_events)) == NULL) goto error;
    if ((objects[SPAN_DROPPED_LINKS] = unsigned_long((uint32_t)dropped_links)) == NULL) goto error;
    if ((objects[SPAN_STATUS_CODE] = PyLong_FromLong(status_code)) == NULL) goto error;
    PyObject *span = PyTuple_New(SPAN_FIELDS);
    if (span == NULL) goto error;
    for (int i = 0; i < SPAN_FIELDS; i++) PyTuple_SET_ITEM(span, i, objects[i]);
    return span;
error:
    for (int i = 0; i < SPAN_FIELDS; i++) Py_XDECREF(objects[i]);
    return NULL;
}

/* InstrumentationScope -> name and version (its attributes are read to be checked, not kept). */
static int decode_scope(Reader *r, PyObject **name, PyObject **version, const Options *options) {
    while (r->p < r->end) {
        uint32_t field;
        int wire_type;
        Reader payload;
        if (read_tag(r, &field, &wire_type) < 0) return -1;
        if ((field == 1 || field == 2) && wire_type == WIRE_LEN) {
            if (read_length_delimited(r, &payload) < 0) return -1;
            if (store(field == 1 ? name : version, text_from(&payload)) < 0) return -1;
        } else if (field == 3 && wire_type == WIRE_LEN) {
            PyObject *ignored = NULL;
            int added = add_attribute(&ignored, r, options);
            Py_XDECREF(ignored);
            if (added < 0) return -1;
        } else if (skip_field(r, field, wire_type, 0) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Resource -> its attributes, into *attributes (the second slot is unused: see decode_grouping). */
static int decode_resource(Reader *r, PyObject **attributes, PyObject **Py_UNUSED(unused),
                           const Options *options) {
    while (r->p < r->end) {
        uint32_t field;
        int wire_type;
        Reader payload;
        if (read_tag(r, &field, &wire_type) < 0) return -1;
        if (field == 1 && wire_type == WIRE_LEN) {
            if (add_attribute(attributes, r, options) < 0) return -1;
        } else if (field == 3 && wire_type == WIRE_LEN) { /* entity_refs: not kept, but checked */
            if (read_length_delimited(r, &payload) < 0 || check_string_fields(&payload) < 0) return -1;
        } else if (skip_field(r, field, wire_type, 0) < 0) {
            return -1;
        }
    }
    return 0;
}

typedef int (*HeaderDecoder)(Reader *, PyObject **, PyObject **, const Options *);
typedef PyObject *(*ChildDecoder)(Reader *, const Options *);

/* ResourceSpans and ScopeSpans share a layout: 1 a header (resource or scope), read into two
 * slots; 2 the repeated children (scope spans or spans); 3 schema_url, only checked. */
static int decode_grouping(Reader *r, const Options *options, HeaderDecoder header, PyObject **first,
                           PyObject **second, ChildDecoder child, PyObject **children) {
    while (r->p < r->end) {
        uint32_t field;
        int wire_type;
        Reader payload;
        if (read_tag(r, &field, &wire_type) < 0) return -1;
        if (field >= 1 && field <= 3 && wire_type == WIRE_LEN) {
            if (read_length_delimited(r, &payload) < 0) return -1;
            int done = field == 1   ? header(&payload, first, second, options)
                       : field == 2 ? append_decoded(children, child(&payload, options))
                                    : check_text(&payload);
            if (done < 0) return -1;
        } else if (skip_field(r, field, wire_type, 0) < 0) {
            return -1;
        }
    }
    return or_default(children, empty_list);
}

/* ScopeSpans -> (scope_name, scope_version, [span, ...]) */
static PyObject *decode_scope_spans(Reader *r, const Options *options) {
    PyObject *name = NULL, *version = NULL, *spans = NULL;
    if (decode_grouping(r, options, decode_scope, &name, &version, decode_span, &spans) < 0) {
        Py_XDECREF(name);
        Py_XDECREF(version);
        Py_XDECREF(spans);
        return NULL;
    }
    or_default(&name, empty_text);
    or_default(&version, empty_text);
    return Py_BuildValue("(NNN)", name, version, spans);
}

/* ResourceSpans -> (resource_attributes, [scope_spans, ...]) */
static PyObject *decode_resource_spans(Reader *r, const Options *options) {
    PyObject *attributes = NULL, *scopes = NULL;
    if (decode_grouping(r, options, decode_resource, &attributes, NULL, decode_scope_spans, &scopes) < 0 ||
        or_default(&attributes, PyDict_New) < 0) {
        Py_XDECREF(attributes);
        Py_XDECREF(scopes);
        return NULL;
    }
    return Py_BuildValue("(NN)", attributes, scopes);
}

static PyObject *decode_traces(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer buffer;
    Options options;
    if (!PyArg_ParseTuple(args, "y*nO:decode_traces", &buffer, &options.max_bytes, &options.capped_value))
        return NULL;
    Reader r = {(const uint8_t *)buffer.buf, (const uint8_t *)buffer.buf + buffer.len, 1};
    PyObject *resources = PyList_New(0);
    if (resources == NULL) goto done;
    while (r.p < r.end) {
        uint32_t field;
        int wire_type;
        Reader payload;
        if (read_tag(&r, &field, &wire_type) < 0) goto error;
        if (field == 1 && wire_type == WIRE_LEN) {
            if (read_length_delimited(&r, &payload) < 0) goto error;
            if (append_decoded(&resources, decode_resource_spans(&payload, &options)) < 0) goto error;
        } else if (skip_field(&r, field, wire_type, 0) < 0) {
            goto error;
        }
    }
    goto done;
error:
    Py_CLEAR(resources);
done:
    PyBuffer_Release(&buffer);
    return resources;
}

static PyMethodDef methods[] = {
    {"decode_traces", decode_traces, METH_VARARGS,
     "decode_traces(payload, max_attribute_bytes, capped_value) -> [(resource_attributes, "
     "[(scope_name, scope_version, [span, ...]), ...]), ...]"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT, "_otlp_wire", "OTLP wire-format decoding into plain Python objects.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__otlp_wire(void) {
    static const char *const span_names[SPAN_FIELDS] = SPAN_TUPLE_NAMES;
    static const char *const event_names[EVENT_FIELDS] = EVENT_TUPLE_NAMES;
    PyObject *module = PyModule_Create(&module_definition);
    if (module == NULL) return NULL;
    DecodeError = PyErr_NewException("observatory_ingest._otlp_wire.DecodeError", PyExc_ValueError, NULL);
    TooDeep = PyUnicode_FromString("[nested deeper than 16 levels]");
    EmptyText = PyUnicode_FromStringAndSize(NULL, 0);
    if (DecodeError == NULL || TooDeep == NULL || EmptyText == NULL ||
        PyModule_AddObjectRef(module, "DecodeError", DecodeError) < 0 ||
        PyModule_AddObjectRef(module, "TOO_DEEP", TooDeep) < 0 ||
        PyModule_AddIntConstant(module, "MAX_DEPTH", MAX_DEPTH) < 0 ||
        add_layout(module, "SPAN_TUPLE_LAYOUT", span_names, SPAN_FIELDS) < 0 ||
        add_layout(module, "EVENT_TUPLE_LAYOUT", event_names, EVENT_FIELDS) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
