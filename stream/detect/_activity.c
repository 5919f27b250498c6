/* Activity.update, compiled: the same arithmetic as stream/detect/activity.py, for speed.
 *
 * After ChannelModel.step (stream/detect/_step.c), Activity.update is replay's costliest call:
 * one per sample, about a tenth of replay's time in Python. This module is a line-by-line C
 * copy of that method and of the _learn_typical it calls, for an instance of Activity itself
 * whose state has the types Activity keeps (floats, the still flag, its three lists) and a
 * float motion, quality and time. Every other call is handed to the pure-Python method,
 * unchanged, before anything is touched; an instance of a subclass gets its own update().
 * The rare bookkeeping (an hour's first reading: _new_hour; a new motion floor: _set_offset;
 * new bounds from the typical motion: _set_still) calls the Python methods, at the point the
 * method calls them. The compiled update and the method leave the same state and return the
 * same value, bit for bit (tests/stream/test_detect_hot_path.py checks it).
 *
 * Keep the two in step: the statements below follow the method's, in its order and with its
 * names. The arithmetic is in the same order (compiled with -ffp-contract=off: no fused
 * multiply-add), so IEEE doubles round as Python's floats do; math.log and math.exp raise
 * here where Python's do.
 *
 * State is read and written through the instance's __slots__ (offsets taken from the class's
 * member descriptors by bind(): _slots.h).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <math.h>

enum {
    A_ACTIVE_ABOVE, A_ACTIVE_LINGER, A_ACTIVE_UNTIL, A_BURST_MOTION, A_EWM, A_EXERTION,
    A_LAST_T, A_MIN_QUALITY, A_PREV_MOTION, A_RECOVERY, A_STILL, A_STILL_BELOW, A_STILLNESS,
    A_TAU, A_VIGOROUS_ABOVE, A_VIGOROUS_UNTIL, A_FLOOR, A_TYPICAL, A_STILL_AT, A_HOURS,
    A_STEP_EWM, A_STEP_SINCE, A_STEP_LAST, N_FIELDS
};

static const char *const NAMES[N_FIELDS] = {
    "active_above", "active_linger", "active_until", "burst_motion", "ewm", "exertion",
    "last_t", "min_quality", "prev_motion", "recovery", "still", "still_below", "stillness",
    "tau", "vigorous_above", "vigorous_until", "floor", "typical", "still_at", "hours",
    "step_ewm", "step_since", "step_last",
};

/* Fields that must hold an exact float (the others: the still flag and the three lists). */
static const int FLOATS[] = {
    A_ACTIVE_ABOVE, A_ACTIVE_LINGER, A_ACTIVE_UNTIL, A_BURST_MOTION, A_EWM, A_EXERTION,
    A_LAST_T, A_MIN_QUALITY, A_PREV_MOTION, A_RECOVERY, A_STILL_BELOW, A_STILLNESS, A_TAU,
    A_VIGOROUS_ABOVE, A_VIGOROUS_UNTIL, A_STILL_AT, A_STEP_EWM, A_STEP_SINCE, A_STEP_LAST,
};

static Py_ssize_t offsets[N_FIELDS];
static PyTypeObject *bound_cls = NULL;  /* Activity */
static PyObject *py_method = NULL;      /* Activity.update, the pure-Python method */
static PyObject *s_update = NULL, *s_new_hour = NULL, *s_set_offset = NULL;
static PyObject *s_set_still = NULL;
static PyObject *contexts[3] = {NULL, NULL, NULL};  /* STILL, REST, ACTIVE */
static PyObject *one = NULL, *zero = NULL;  /* the method's 1.0 and 0.0 */

#include "_slots.h"

/* Constants of activity.py (their names there) and of contexts.py. */
#define TYPICAL_FOR_BURST 0.12  /* _TYPICAL_FOR_BURST */
#define TYPICAL_FOR_ACTIVE 0.08 /* _TYPICAL_FOR_ACTIVE */
#define SCALE_MIN 0.15          /* _SCALE_MIN */
#define TYPICAL_AFTER 30.0      /* _TYPICAL_AFTER */
#define TYPICAL_SPAN 720.0      /* _TYPICAL_SPAN */
#define STEP_UP 1.6             /* STEP_UP */
#define STEP_TAU 90.0           /* STEP_TAU */
#define STEP_SPELL_S 300.0      /* STEP_SPELL_S */
#define STILL 0
#define REST 1
#define ACTIVE 2

/* Item i of a list as a double: an exact float, or any number a Python helper left there
 * (-1.0 with an exception set if it is none). */
static inline double
item(PyObject *list, Py_ssize_t i)
{
    PyObject *o = PyList_GET_ITEM(list, i);
    return PyFloat_CheckExact(o) ? PyFloat_AS_DOUBLE(o) : PyFloat_AsDouble(o);
}

/* Slot i as a double after a Python helper ran (as item()). */
static inline double
after(PyObject *self, int i)
{
    PyObject *o = SLOT(self, i);
    return PyFloat_CheckExact(o) ? PyFloat_AS_DOUBLE(o) : PyFloat_AsDouble(o);
}

static inline int
set_item(PyObject *list, Py_ssize_t i, PyObject *o)
{
    return o == NULL ? -1 : PyList_SetItem(list, i, o);  /* (steals o) */
}

/* self.name(), -1 if it raised. */
static inline int
call0(PyObject *self, PyObject *name)
{
    PyObject *r = PyObject_CallMethodNoArgs(self, name);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* hours[i] += 1 (an exact int of a long's range, checked on entry). */
static inline int
count(PyObject *hours, Py_ssize_t i)
{
    long v = PyLong_AsLong(PyList_GET_ITEM(hours, i));
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    return set_item(hours, i, PyLong_FromLong(v + 1));
}

/* Activity._learn_typical(motion), inlined. */
static int
learn_typical(PyObject *self, PyObject *typ, double motion)
{
    double n = item(typ, 1) + 1.0;
    if (set_item(typ, 1, PyFloat_FromDouble(n)) < 0) {
        return -1;
    }
    if (!(motion > 0.0) && !isnan(motion)) {
        PyErr_SetString(PyExc_ValueError, "math domain error");  /* math.log(motion) */
        return -1;
    }
    double t0 = item(typ, 0);
    t0 += (log(motion) - t0) / (n < TYPICAL_SPAN ? n : TYPICAL_SPAN);
    if (set_item(typ, 0, PyFloat_FromDouble(t0)) < 0) {
        return -1;
    }
    if (n >= TYPICAL_AFTER && (n < 2.0 * TYPICAL_AFTER || fmod(n, 8.0) == 0.0)) {
        double typical = exp(t0);
        if (isinf(typical) && isfinite(t0)) {
            PyErr_SetString(PyExc_OverflowError, "math range error");  /* math.exp */
            return -1;
        }
        double v = typical / TYPICAL_FOR_BURST;  /* min(1.0, max(v, _SCALE_MIN)) */
        if (SCALE_MIN > v) {
            v = SCALE_MIN;
        }
        if (set_item(typ, 2, PyFloat_FromDouble(v < 1.0 ? v : 1.0)) < 0) {
            return -1;
        }
        v = typical / TYPICAL_FOR_ACTIVE;
        if (SCALE_MIN > v) {
            v = SCALE_MIN;
        }
        if (set_item(typ, 3, PyFloat_FromDouble(v < 1.0 ? v : 1.0)) < 0) {
            return -1;
        }
        return call0(self, s_set_still);
    }
    return 0;
}

/* Whether the state is of Activity's own types (nothing is touched before it is known). */
static int
common_case(PyObject *self)
{
    for (int i = 0; i < N_FIELDS; i++) {
        if (SLOT(self, i) == NULL) {
            return 0;  /* (the method raises AttributeError) */
        }
    }
    for (size_t i = 0; i < sizeof(FLOATS) / sizeof(FLOATS[0]); i++) {
        if (!PyFloat_CheckExact(SLOT(self, FLOATS[i]))) {
            return 0;
        }
    }
    PyObject *still = SLOT(self, A_STILL), *f = SLOT(self, A_FLOOR);
    PyObject *typ = SLOT(self, A_TYPICAL), *hours = SLOT(self, A_HOURS);
    if (!PyBool_Check(still) || !PyList_CheckExact(f) || !PyList_CheckExact(typ)
        || !PyList_CheckExact(hours) || PyList_GET_SIZE(typ) != 5 || PyList_GET_SIZE(hours) < 2) {
        return 0;
    }
    Py_ssize_t nf = PyList_GET_SIZE(f);
    if (nf != 0 && nf < 3) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < (nf < 3 ? nf : 3); i++) {
        if (!PyFloat_CheckExact(PyList_GET_ITEM(f, i))) {
            return 0;
        }
    }
    for (Py_ssize_t i = 0; i < 5; i++) {
        if (!PyFloat_CheckExact(PyList_GET_ITEM(typ, i))) {
            return 0;
        }
    }
    for (Py_ssize_t i = 0; i < 2; i++) {
        PyObject *o = PyList_GET_ITEM(hours, i);
        int overflow = 0;
        if (!PyLong_CheckExact(o)) {
            return 0;
        }
        long v = PyLong_AsLongAndOverflow(o, &overflow);
        if (overflow || (v == -1 && PyErr_Occurred()) || v > LONG_MAX - 1) {
            PyErr_Clear();
            return 0;
        }
    }
    return 1;
}

PyDoc_STRVAR(update_doc,
"update(activity, motion, quality, ts) -> (context, reliable)\n\n"
"Activity.update(motion, quality, ts) of ``activity``, compiled: the same state and value,\n"
"bit for bit (the pure-Python method runs the calls this does not cover).");

static PyObject *
update(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (!ready("update", nargs, 4)) {
        return NULL;
    }
    PyObject *self = args[0], *motion_o = args[1], *quality_o = args[2], *ts_o = args[3];
    if (Py_TYPE(self) != bound_cls) {
        /* self.update(...): a subclass may have its own (and its own slots) */
        return PyObject_VectorcallMethod(s_update, args, 4, NULL);
    }
    if (!PyFloat_CheckExact(ts_o) || (motion_o != Py_None && !PyFloat_CheckExact(motion_o))
        || (quality_o != Py_None && !PyFloat_CheckExact(quality_o)) || !common_case(self)) {
        return PyObject_Vectorcall(py_method, args, 4, NULL);
    }
    double ts = PyFloat_AS_DOUBLE(ts_o);
    int reliable = quality_o == Py_None || PyFloat_AS_DOUBLE(quality_o) >= F(self, A_MIN_QUALITY);
    if (motion_o != Py_None) {
        double motion = PyFloat_AS_DOUBLE(motion_o);
        PyObject *f = SLOT(self, A_FLOOR);
        Py_INCREF(f);  /* the method's local f: the same list, whatever a helper does */
        if (PyList_GET_SIZE(f) && item(f, 1) - 3600.0 <= ts && ts < item(f, 1)) {
            if (motion < item(f, 2)) {
                Py_INCREF(motion_o);
                if (PyList_SetItem(f, 2, motion_o) < 0
                    || (PyList_GET_SIZE(f) == 3 && call0(self, s_set_offset) < 0)) {
                    Py_DECREF(f);
                    return NULL;
                }
            }
        }
        else {
            PyObject *r = PyObject_CallMethodObjArgs(self, s_new_hour, motion_o, ts_o, NULL);
            if (r == NULL) {
                Py_DECREF(f);
                return NULL;
            }
            Py_DECREF(r);
        }
        if (PyList_GET_SIZE(f) < 1) {
            Py_DECREF(f);
            PyErr_SetString(PyExc_IndexError, "list index out of range");
            return NULL;
        }
        double offset = item(f, 0);
        Py_DECREF(f);
        if (offset == -1.0 && PyErr_Occurred()) {
            return NULL;
        }
        /* the reading itself while no offset is removed: the state holds the same object as
         * the method's (pickle writes an object held twice once) */
        PyObject *moved = NULL;
        if (offset != 0.0) {
            motion = motion > offset ? motion - offset : 0.0;
            moved = PyFloat_FromDouble(motion);
            if (moved == NULL) {
                return NULL;
            }
        }
        else {
            moved = Py_NewRef(motion_o);
        }
        PyObject *typ = SLOT(self, A_TYPICAL);
        Py_INCREF(typ);
        int burst = motion >= after(self, A_BURST_MOTION) * item(typ, 2);
        if ((!burst && motion >= after(self, A_STILL_AT) && learn_typical(self, typ, motion) < 0)
            || PyErr_Occurred()) {
            goto fail_typ;
        }
        double dt = ts - after(self, A_LAST_T);
        double ewm = after(self, A_EWM), still_at = after(self, A_STILL_AT);
        if (ewm != ewm) {  /* first motion reading */
            if (!burst) {
                set_obj(self, A_EWM, moved);
            }
            else {
                PyObject *b = SLOT(self, A_BURST_MOTION);
                Py_INCREF(b);
                (void)set_new(self, A_EWM, b);
            }
            /* (the method's constants: one object, as there) */
            set_obj(self, A_EXERTION, burst ? one : zero);
            set_obj(self, A_STILLNESS, motion < still_at ? one : zero);
        }
        else if (dt > 0.0) {
            double tau = after(self, A_TAU);
            double a = dt < 5.0 * tau ? 1.0 - exp(-dt / tau) : 1.0;
            double a2 = a;
            double stillness = after(self, A_STILLNESS);
            stillness += a2 * ((motion < still_at ? 1.0 : 0.0) - stillness);
            if (set_f(self, A_STILLNESS, stillness) < 0) {
                goto fail_typ;
            }
            double exertion = after(self, A_EXERTION);
            if (burst) {
                reliable = 0;
                exertion += a * (1.0 - exertion);
                if (set_f(self, A_EXERTION, exertion) < 0) {
                    goto fail_typ;
                }
            }
            else {
                exertion -= a * exertion;
                ewm += a * (motion - ewm);
                if (set_f(self, A_EXERTION, exertion) < 0 || set_f(self, A_EWM, ewm) < 0) {
                    goto fail_typ;
                }
            }
        }
        else if (burst) {
            reliable = 0;
        }
        double stillness = after(self, A_STILLNESS);
        int still = SLOT(self, A_STILL) == Py_True ? stillness >= 0.3 : stillness >= 0.6;
        (void)set_new(self, A_STILL, Py_NewRef(still ? Py_True : Py_False));
        PyObject *hours = SLOT(self, A_HOURS);
        if (count(hours, 1) < 0 || (still && count(hours, 0) < 0)) {
            goto fail_typ;
        }
        if (after(self, A_EXERTION) >= after(self, A_VIGOROUS_ABOVE)) {
            if (set_f(self, A_VIGOROUS_UNTIL, ts + after(self, A_RECOVERY)) < 0) {
                goto fail_typ;
            }
        }
        /* a step up (stepping_since): the quick motion average well above the usual, or a
         * burst, left out of the average; a new spell if the last step is long past */
        int step;
        if (burst) {
            step = item(typ, 1) >= TYPICAL_AFTER;
        }
        else {
            double q = after(self, A_STEP_EWM);
            if (q != q) {
                set_obj(self, A_STEP_EWM, moved);  /* the reading itself, as the method's */
                q = motion;
            }
            else if (dt > 0.0) {
                double a = dt < 5.0 * STEP_TAU ? 1.0 - exp(-dt / STEP_TAU) : 1.0;
                q += a * (motion - q);
                if (set_f(self, A_STEP_EWM, q) < 0) {
                    goto fail_typ;
                }
            }
            step = 0;
            if (item(typ, 1) >= TYPICAL_AFTER) {
                double t0 = item(typ, 0);
                double typical = exp(t0);
                if (isinf(typical) && isfinite(t0)) {
                    PyErr_SetString(PyExc_OverflowError, "math range error");  /* math.exp */
                    goto fail_typ;
                }
                step = q >= STEP_UP * typical;
            }
        }
        if (step) {
            /* the state holds the time object itself, as the method's does */
            if (ts - after(self, A_STEP_LAST) > STEP_SPELL_S) {
                set_obj(self, A_STEP_SINCE, ts_o);
            }
            set_obj(self, A_STEP_LAST, ts_o);
        }
        /* two moving samples in a row (turning over in bed is one) or a moving average */
        double prev = after(self, A_PREV_MOTION);
        double active_above = after(self, A_ACTIVE_ABOVE) * item(typ, 3);
        Py_DECREF(typ);
        int moving = (prev < motion ? prev : motion) >= active_above;
        if (!burst && (moving || after(self, A_EWM) >= active_above)) {
            if (set_f(self, A_ACTIVE_UNTIL, ts + after(self, A_ACTIVE_LINGER)) < 0) {
                Py_DECREF(moved);
                return NULL;
            }
        }
        set_obj(self, A_PREV_MOTION, moved);
        Py_DECREF(moved);
        if (PyErr_Occurred()) {
            return NULL;
        }
        goto rest;
    fail_typ:
        Py_DECREF(typ);
        Py_DECREF(moved);
        return NULL;
    }
rest:
    if (ts > after(self, A_LAST_T)) {
        Py_INCREF(ts_o);
        (void)set_new(self, A_LAST_T, ts_o);
    }
    if (ts < after(self, A_VIGOROUS_UNTIL)) {
        reliable = 0;
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    /* self.context, inlined */
    int ctx;
    double ewm = after(self, A_EWM);
    if (ewm != ewm) {
        ctx = REST;
    }
    else if (after(self, A_LAST_T) < after(self, A_ACTIVE_UNTIL)) {
        ctx = ACTIVE;
    }
    else {
        ctx = SLOT(self, A_STILL) == Py_True ? STILL : REST;
    }
    return PyTuple_Pack(2, contexts[ctx], reliable ? Py_True : Py_False);
}

SLOTS_MODULE("_activity", "Activity", "update", update, update_doc)

PyMODINIT_FUNC
PyInit__activity(void)
{
    s_update = PyUnicode_InternFromString("update");
    s_new_hour = PyUnicode_InternFromString("_new_hour");
    s_set_offset = PyUnicode_InternFromString("_set_offset");
    s_set_still = PyUnicode_InternFromString("_set_still");
    if (s_update == NULL || s_new_hour == NULL || s_set_offset == NULL || s_set_still == NULL) {
        return NULL;
    }
    one = PyFloat_FromDouble(1.0);
    zero = PyFloat_FromDouble(0.0);
    if (one == NULL || zero == NULL) {
        return NULL;
    }
    for (int i = 0; i < 3; i++) {
        contexts[i] = PyLong_FromLong(i);
        if (contexts[i] == NULL) {
            return NULL;
        }
    }
    return PyModule_Create(&module);
}
