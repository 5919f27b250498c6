/* DataQuality.on_sample, compiled: the same bookkeeping as stream/detect/technical.py.
 *
 * One call per sample (runs of poor signal, stuck readings), about a twentieth of replay's
 * time in Python. This module is a line-by-line C copy of that method for its common case: an
 * instance of DataQuality itself whose state has the types DataQuality keeps, a float time and
 * quality, a sample (not a mapping) whose readings are floats, and no finding to report. A
 * call that will report one (a run of poor signal or a flatline long enough), and every other
 * call, is handed to the pure-Python method, unchanged, before anything is touched; an
 * instance of a subclass gets its own on_sample(). The compiled call and the method leave the
 * same state and return the same value, bit for bit (tests/stream/test_detect_hot_path.py
 * checks it).
 *
 * Keep the two in step: the statements below follow the method's, in its order and with its
 * names. State is read and written through the instance's __slots__ (_slots.h).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

enum {
    Q_FLAT, Q_FLAT_AFTER, Q_GAP_AFTER, Q_LAST_SEEN, Q_MIN_QUALITY, Q_POOR_AFTER, Q_POOR_RUN,
    Q_POOR_SINCE, Q_REJECTED_RUN, N_FIELDS
};

static const char *const NAMES[N_FIELDS] = {
    "flat", "flat_after", "gap_after", "last_seen", "min_quality", "poor_after", "poor_run",
    "poor_since", "rejected_run",
};

static Py_ssize_t offsets[N_FIELDS];
static PyTypeObject *bound_cls = NULL;  /* DataQuality */
static PyObject *py_method = NULL;      /* DataQuality.on_sample, the pure-Python method */
static PyObject *s_on_sample = NULL, *kwnames = NULL;
static PyObject *one = NULL;            /* the method's 1.0 */
/* FLATLINE_VITALS */
#define N_FLAT 2
static PyObject *flat_vitals[N_FLAT] = {NULL, NULL};

#include "_slots.h"

/* An exact int of a long's range (not LONG_MAX: it is counted up), or 0. */
static int
small_int(PyObject *o, long *v)
{
    int overflow = 0;
    if (!PyLong_CheckExact(o)) {
        return 0;
    }
    *v = PyLong_AsLongAndOverflow(o, &overflow);
    if (overflow || (*v == -1 && PyErr_Occurred()) || *v == LONG_MAX) {
        PyErr_Clear();
        return 0;
    }
    return 1;
}

/* A number as the method compares it: an exact float, or an exact int a double holds exactly. */
static int
number(PyObject *o, double *v)
{
    if (PyFloat_CheckExact(o)) {
        *v = PyFloat_AS_DOUBLE(o);
        return 1;
    }
    long i;
    if (small_int(o, &i) && i > -(1L << 53) && i < (1L << 53)) {
        *v = (double)i;
        return 1;
    }
    return 0;
}

PyDoc_STRVAR(on_sample_doc,
"on_sample(quality_state, ts, quality, values) -> list\n\n"
"DataQuality.on_sample(ts, quality=quality, values=values) of ``quality_state``, compiled:\n"
"the same state and value, bit for bit (the pure-Python method runs the calls this does not\n"
"cover, and every call that reports a finding).");

static PyObject *
on_sample(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (!ready("on_sample", nargs, 4)) {
        return NULL;
    }
    PyObject *self = args[0], *ts_o = args[1], *quality_o = args[2], *values = args[3];
    if (Py_TYPE(self) != bound_cls) {
        /* self.on_sample(ts, quality=..., values=...): a subclass may have its own */
        return PyObject_VectorcallMethod(s_on_sample, args, 2, kwnames);
    }
    /* -- whether this call is the common case; nothing is touched before it is known -- */
    for (int i = 0; i < N_FIELDS; i++) {
        if (SLOT(self, i) == NULL) {
            goto hand_over;  /* (the method raises AttributeError) */
        }
    }
    PyTypeObject *vt = Py_TYPE(values);
    long poor_run, poor_after, rejected_run;
    double flat_after;
    if (!PyFloat_CheckExact(ts_o) || (quality_o != Py_None && !PyFloat_CheckExact(quality_o))
        || PyDict_Check(values) || (vt->tp_as_mapping && vt->tp_as_mapping->mp_subscript)
        || !PyFloat_CheckExact(SLOT(self, Q_LAST_SEEN))
        || !PyFloat_CheckExact(SLOT(self, Q_MIN_QUALITY))
        || !PyFloat_CheckExact(SLOT(self, Q_POOR_SINCE))
        || !PyFloat_CheckExact(SLOT(self, Q_GAP_AFTER))
        || !small_int(SLOT(self, Q_POOR_RUN), &poor_run)
        || !small_int(SLOT(self, Q_POOR_AFTER), &poor_after)
        || !small_int(SLOT(self, Q_REJECTED_RUN), &rejected_run)
        || !number(SLOT(self, Q_FLAT_AFTER), &flat_after) || !PyDict_CheckExact(SLOT(self, Q_FLAT))) {
        goto hand_over;
    }
    double ts = PyFloat_AS_DOUBLE(ts_o);
    int poor = quality_o != Py_None && PyFloat_AS_DOUBLE(quality_o) < F(self, Q_MIN_QUALITY);
    if (poor && poor_run + 1 >= poor_after) {
        goto hand_over;  /* a poor_signal finding */
    }
    PyObject *flat = SLOT(self, Q_FLAT);
    PyObject *xs[N_FLAT] = {NULL, NULL}, *runs[N_FLAT] = {NULL, NULL};
    for (int v = 0; v < N_FLAT; v++) {
        /* getattr(values, vital, None) */
        xs[v] = PyObject_GetAttr(values, flat_vitals[v]);
        if (xs[v] == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
                goto error;
            }
            PyErr_Clear();
        }
        if (xs[v] == NULL || xs[v] == Py_None) {
            Py_CLEAR(xs[v]);
            continue;
        }
        if (!PyFloat_CheckExact(xs[v])) {
            goto hand_over_values;
        }
        PyObject *run = PyDict_GetItemWithError(flat, flat_vitals[v]);  /* (borrowed) */
        if (run == NULL) {
            if (PyErr_Occurred()) {
                goto error;
            }
            continue;
        }
        if (!PyList_CheckExact(run) || PyList_GET_SIZE(run) != 4) {
            goto hand_over_values;  /* (a run saved before the last reading was kept) */
        }
        for (Py_ssize_t i = 0; i < 4; i++) {
            if (!PyFloat_CheckExact(PyList_GET_ITEM(run, i))) {
                goto hand_over_values;
            }
        }
        double x = PyFloat_AS_DOUBLE(xs[v]);
        if (!(PyFloat_AS_DOUBLE(PyList_GET_ITEM(run, 0)) != x
              || ts - PyFloat_AS_DOUBLE(PyList_GET_ITEM(run, 3)) > F(self, Q_GAP_AFTER))
            && PyFloat_AS_DOUBLE(PyList_GET_ITEM(run, 1)) + 1.0 >= flat_after) {
            goto hand_over_values;  /* a flatline finding */
        }
        runs[v] = run;
    }
    /* -- the method's statements -- */
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        goto error;
    }
    if (ts > F(self, Q_LAST_SEEN)) {
        set_obj(self, Q_LAST_SEEN, ts_o);
    }
    if (rejected_run != 0 && set_i(self, Q_REJECTED_RUN, 0) < 0) {
        goto error_out;
    }
    if (poor) {
        if (poor_run == 0) {
            set_obj(self, Q_POOR_SINCE, ts_o);
        }
        if (set_i(self, Q_POOR_RUN, poor_run + 1) < 0) {
            goto error_out;
        }
    }
    else if (poor_run != 0 && set_i(self, Q_POOR_RUN, 0) < 0) {
        goto error_out;
    }
    for (int v = 0; v < N_FLAT; v++) {
        PyObject *x = xs[v], *run = runs[v];
        if (x == NULL) {
            continue;
        }
        if (run == NULL) {
            PyObject *fresh = PyList_New(4);
            if (fresh == NULL) {
                goto error_out;
            }
            PyList_SET_ITEM(fresh, 0, Py_NewRef(x));
            PyList_SET_ITEM(fresh, 1, Py_NewRef(one));
            PyList_SET_ITEM(fresh, 2, Py_NewRef(ts_o));
            PyList_SET_ITEM(fresh, 3, Py_NewRef(ts_o));
            int r = PyDict_SetItem(flat, flat_vitals[v], fresh);
            Py_DECREF(fresh);
            if (r < 0) {
                goto error_out;
            }
            continue;
        }
        /* a repeat after a gap in this vital's readings is no stuck sensor (yet) */
        if (PyFloat_AS_DOUBLE(PyList_GET_ITEM(run, 0)) != PyFloat_AS_DOUBLE(x)
            || ts - PyFloat_AS_DOUBLE(PyList_GET_ITEM(run, 3)) > F(self, Q_GAP_AFTER)) {
            PyList_SetItem(run, 0, Py_NewRef(x));
            PyList_SetItem(run, 1, Py_NewRef(one));
            PyList_SetItem(run, 2, Py_NewRef(ts_o));
            PyList_SetItem(run, 3, Py_NewRef(ts_o));
            continue;
        }
        PyObject *n = PyFloat_FromDouble(PyFloat_AS_DOUBLE(PyList_GET_ITEM(run, 1)) + 1.0);
        if (n == NULL) {
            goto error_out;
        }
        PyList_SetItem(run, 1, n);
        PyList_SetItem(run, 3, Py_NewRef(ts_o));
    }
    Py_XDECREF(xs[0]);
    Py_XDECREF(xs[1]);
    return out;

error_out:
    Py_DECREF(out);
error:
    Py_XDECREF(xs[0]);
    Py_XDECREF(xs[1]);
    return NULL;
hand_over_values:
    Py_XDECREF(xs[0]);
    Py_XDECREF(xs[1]);
hand_over:
    return PyObject_Vectorcall(py_method, args, 2, kwnames);
}

SLOTS_MODULE("_technical", "DataQuality", "on_sample", on_sample, on_sample_doc)

PyMODINIT_FUNC
PyInit__technical(void)
{
    s_on_sample = PyUnicode_InternFromString("on_sample");
    flat_vitals[0] = PyUnicode_InternFromString("hr");
    flat_vitals[1] = PyUnicode_InternFromString("rr");
    kwnames = Py_BuildValue("(ss)", "quality", "values");
    one = PyFloat_FromDouble(1.0);
    if (s_on_sample == NULL || flat_vitals[0] == NULL || flat_vitals[1] == NULL
        || kwnames == NULL || one == NULL) {
        return NULL;
    }
    return PyModule_Create(&module);
}
