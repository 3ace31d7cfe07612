/* first_values: genai.first() for many fields in one pass over a span's attributes. Reading an
 * LLM span's fields key by key in Python costs a few hundred interpreter instructions per key;
 * the dict lookups themselves are cheap. tests/unit/test_genai.py holds it to genai.first. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* A value genai.first accepts: neither None nor "". */
static int has_value(PyObject *value) {
    return value != Py_None && !(PyUnicode_CheckExact(value) && PyUnicode_GET_LENGTH(value) == 0);
}

#define MAX_FIELDS 64

/* first_values(attributes, key_ranks, names) -> {name: value}. key_ranks maps a key to (field,
 * rank): names[field] is the field it feeds, rank its place among that field's keys. For each
 * field, the value of its lowest-ranked key that attributes holds with a value; fields without
 * one are left out. One pass over the attributes: a span has fewer of them than there are keys. */
static PyObject *first_values(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyDict_Check(args[0]) || !PyDict_Check(args[1]) || !PyTuple_Check(args[2]) ||
        PyTuple_GET_SIZE(args[2]) > MAX_FIELDS) {
        PyErr_SetString(PyExc_TypeError, "first_values(attributes: dict, key_ranks: dict, names: tuple)");
        return NULL;
    }
    PyObject *attributes = args[0], *key_ranks = args[1], *names = args[2];
    Py_ssize_t field_count = PyTuple_GET_SIZE(names);
    PyObject *best[MAX_FIELDS] = {NULL}; /* borrowed from attributes */
    long best_rank[MAX_FIELDS];
    Py_ssize_t position = 0;
    PyObject *key, *value;
    while (PyDict_Next(attributes, &position, &key, &value)) {
        PyObject *placed = PyDict_GetItemWithError(key_ranks, key);
        if (placed == NULL) {
            if (PyErr_Occurred()) return NULL;
            continue;
        }
        if (!has_value(value)) continue;
        if (!PyTuple_Check(placed) || PyTuple_GET_SIZE(placed) != 2) {
            PyErr_SetString(PyExc_TypeError, "key_ranks values are (field, rank)");
            return NULL;
        }
        Py_ssize_t field = PyLong_AsSsize_t(PyTuple_GET_ITEM(placed, 0));
        long rank = PyLong_AsLong(PyTuple_GET_ITEM(placed, 1));
        if (PyErr_Occurred()) return NULL;
        if (field < 0 || field >= field_count) {
            PyErr_SetString(PyExc_ValueError, "key_ranks names a field past names");
            return NULL;
        }
        if (best[field] == NULL || rank < best_rank[field]) {
            best[field] = value;
            best_rank[field] = rank;
        }
    }
    PyObject *found = PyDict_New();
    if (found == NULL) return NULL;
    for (Py_ssize_t field = 0; field < field_count; field++) {
        if (best[field] != NULL && PyDict_SetItem(found, PyTuple_GET_ITEM(names, field), best[field]) < 0) {
            Py_DECREF(found);
            return NULL;
        }
    }
    return found;
}

static PyMethodDef methods[] = {
    {"first_values", (PyCFunction)(void (*)(void))first_values, METH_FASTCALL,
     "first_values(attributes, key_ranks, names) -> {name: value of its first key present}"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT, "_attribute_fields", "Several attribute lookups in one call.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__attribute_fields(void) {
    return PyModule_Create(&module_definition);
}
