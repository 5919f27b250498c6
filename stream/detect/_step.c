/* ChannelModel.step, compiled: the same arithmetic as stream/detect/baseline.py, for speed.
 *
 * Replay spends about half of its time in ChannelModel.step (four channels per sample). This
 * module is a line-by-line C copy of that method's common case: a context that has settled
 * (n[ctx] >= warmup), every piece of state of the types ChannelModel itself keeps, and a
 * time of day given as time_of_day() returns it (or None). Every other call (a baseline
 * still warming up, a direct caller's integer state) is handed to the pure-Python method,
 * unchanged, before anything is touched, and an instance of a subclass gets its own step():
 * the compiled step and the method leave the same state and return the same score, bit for
 * bit (tests/stream/test_detect_hot_path.py checks it on streams with every regime).
 *
 * Keep the two in step: the statements below follow the method's, in its order and with its
 * names (and those of the methods it inlines). The arithmetic is in the same order (compiled
 * with -ffp-contract=off: no fused multiply-add), so IEEE doubles round as Python's floats
 * do; divisions Python would refuse raise ZeroDivisionError here too.
 *
 * State is read and written through the instance's __slots__ (offsets taken from the class's
 * member descriptors by bind(): _slots.h): ChannelModel keeps no state anywhere else.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <math.h>

enum {
    F_MAX_GAP, F_RECENT, F_RECENT_AT, F_FLAT_RUN, F_LONG_RUN, F_CUSUM_UP, F_CUSUM_DOWN,
    F_KNOWN_SINCE, F_XS, F_N, F_WARMUP, F_LEVEL, F_SD_CACHE, F_PROFILE_RATE, F_DAILY,
    F_EXPECTED, F_SD, F_SETTLED, F_Z, F_CUSUM_K, F_UP_SINCE, F_DOWN_SINCE, F_BORN, F_ZZ, F_Z2,
    F_CUSUM_H, F_TAIL_P, F_LEARNED_AT, F_LEARN_EVERY, F_FREEZE_Z, F_ABSORB_AFTER, F_REP_N,
    F_REP_P, F_DEV, F_TAU, F_TAU_SCALE, F_HUBER, F_PRIOR_SCALE, F_MIN_SCALE, F_HOUR_BIN,
    F_HOUR_ALL, F_HOUR_SUM, F_HOUR_N, F_ON4, F_WEEKEND_SEEN, F_KNOWN_TENTHS, N_FIELDS
};

static const char *const NAMES[N_FIELDS] = {
    "max_gap", "recent", "recent_at", "flat_run", "long_run", "cusum_up", "cusum_down",
    "known_since", "xs", "n", "warmup", "level", "sd_cache", "profile_rate", "daily",
    "expected", "sd", "settled", "z", "cusum_k", "up_since", "down_since", "born", "zz", "z2",
    "cusum_h", "tail_p", "learned_at", "learn_every", "freeze_z", "absorb_after", "rep_n",
    "rep_p", "dev", "tau", "tau_scale", "huber", "prior_scale", "min_scale", "hour_bin",
    "hour_all", "hour_sum", "hour_n", "_on4", "weekend_seen", "known_tenths",
};

/* Fields that must hold an exact float (the others: ints, arrays, the list, optional floats,
 * the settled flag). */
static const int FLOATS[] = {
    F_MAX_GAP, F_RECENT_AT, F_CUSUM_UP, F_CUSUM_DOWN, F_KNOWN_SINCE, F_CUSUM_K, F_UP_SINCE,
    F_DOWN_SINCE, F_BORN, F_ZZ, F_Z2, F_CUSUM_H, F_TAIL_P, F_LEARN_EVERY, F_FREEZE_Z,
    F_ABSORB_AFTER, F_REP_P, F_TAU, F_TAU_SCALE, F_HUBER, F_MIN_SCALE, F_HOUR_SUM, F_ON4,
};
static const int INTS[] = {
    F_FLAT_RUN, F_LONG_RUN, F_WARMUP, F_REP_N, F_HOUR_BIN, F_HOUR_ALL, F_HOUR_N, F_WEEKEND_SEEN,
    F_KNOWN_TENTHS,
};

static Py_ssize_t offsets[N_FIELDS];
static PyTypeObject *bound_cls = NULL;  /* ChannelModel */
static PyObject *py_method = NULL;      /* ChannelModel.step, the pure-Python method */
static PyObject *s_learn_profile = NULL;
static PyObject *s_step = NULL;

#include "_slots.h"

/* Constants of baseline.py and robust.py (their names there). */
#define CUSUM_UNIT 60.0    /* _CUSUM_UNIT */
#define TREND_AFTER_S 86400.0 /* TREND_AFTER_S */
#define Z_MAX 1e6          /* _Z_MAX */
#define RHO_FREE 0.3       /* _RHO_FREE */
#define CORR_FREE_S 600.0  /* _CORR_FREE_S */
#define REP_MEMORY 250     /* _REP_MEMORY */
#define REP_FLOOR 0.01     /* _REP_FLOOR */
#define FLAT_HALF4 1296.0  /* _FLAT_HALF ** 4 */
#define TAIL_Z 5.0         /* _TAIL_Z */
#define TAIL_HALF 0.002    /* _TAIL_HALF */
#define SPIKE_K 2.0        /* _SPIKE_K */
#define KNOWN_S 900.0      /* _KNOWN_S */
#define FADE_S 900.0       /* _FADE_S */
#define MIN_SCALE_READINGS 10
#define GAUSS_MAD 1.2533   /* robust._GAUSS_MAD */
#define MAX_DT 900.0       /* robust._MAX_DT */
#define YOUNG_TAU 7200.0   /* robust._YOUNG_TAU */
#define R_MAX 1e300        /* robust._R_MAX */
#define REL_RESOLUTION 1e-9 /* robust._REL_RESOLUTION */
#define FILL_HOURS 4       /* daily.FILL_HOURS */
#define DAY_BINS 24        /* daily._WEEKEND: the hours of a block (weekdays, weekends) */

/* daily.filled: the offset of hour bin i, its own if learned (a weekday hour: not 0.0; a
 * weekend hour: its bit set in seen), else the line between the nearest learned hours of its
 * block on either side, each at most FILL_HOURS away (else its own). */
static inline double
filled(const float *daily, long i, long seen)
{
    long base = 0, h, j = 0, d0, d1;
    if (i < DAY_BINS) {
        if (daily[i] != 0.0f) {
            return (double)daily[i];
        }
        seen = ~0L;
    }
    else {
        if (seen >> (i - DAY_BINS) & 1) {
            return (double)daily[i];
        }
        base = DAY_BINS;
    }
    h = i - base;
    for (d0 = 1; d0 <= FILL_HOURS; d0++) {
        j = (h - d0 + DAY_BINS) % DAY_BINS;
        if ((seen >> j & 1) && daily[base + j] != 0.0f) {
            break;
        }
    }
    if (d0 > FILL_HOURS) {
        return (double)daily[i];
    }
    double before = (double)daily[base + j];
    for (d1 = 1; d1 <= FILL_HOURS; d1++) {
        j = (h + d1) % DAY_BINS;
        if ((seen >> j & 1) && daily[base + j] != 0.0f) {
            return before + ((double)daily[base + j] - before) * (double)d0 / (double)(d0 + d1);
        }
    }
    return (double)daily[i];
}

/* An exact int of at most a long's range, or -1 with *ok = 0. */
static inline long
small_int(PyObject *o, int *ok)
{
    int overflow = 0;
    long v = PyLong_AsLongAndOverflow(o, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        *ok = 0;
    }
    return v;
}

/* A writable buffer of n items of format fmt ("d", "q", "f"), or 0. */
static int
get_array(PyObject *o, Py_buffer *view, char fmt, Py_ssize_t itemsize, Py_ssize_t n)
{
    if (PyObject_GetBuffer(o, view, PyBUF_WRITABLE | PyBUF_FORMAT) < 0) {
        PyErr_Clear();
        return 0;
    }
    if (view->itemsize != itemsize || view->format == NULL || view->format[0] != fmt
        || view->format[1] != '\0' || view->len < n * itemsize) {
        PyBuffer_Release(view);
        return 0;
    }
    return 1;
}

static PyObject *
fallback(PyObject *const *args)
{
    return PyObject_Vectorcall(py_method, args, 7, NULL);
}

static int
zero_division(void)
{
    PyErr_SetString(PyExc_ZeroDivisionError, "float division by zero");
    return -1;
}

/* The views of the per-context arrays and the profile. */
typedef struct {
    Py_buffer n, level, dev, learned_at, sd_cache, daily;
    int held;
} Arrays;

static void
release(Arrays *a)
{
    if (a->held) {
        PyBuffer_Release(&a->n);
        PyBuffer_Release(&a->level);
        PyBuffer_Release(&a->dev);
        PyBuffer_Release(&a->learned_at);
        PyBuffer_Release(&a->sd_cache);
        PyBuffer_Release(&a->daily);
        a->held = 0;
    }
}

static int
acquire(PyObject *self, Arrays *a)
{
    a->held = 0;
    if (!get_array(SLOT(self, F_N), &a->n, 'q', 8, 3)) {
        return 0;
    }
    if (!get_array(SLOT(self, F_LEVEL), &a->level, 'd', 8, 3)) {
        goto n;
    }
    if (!get_array(SLOT(self, F_DEV), &a->dev, 'd', 8, 3)) {
        goto level;
    }
    if (!get_array(SLOT(self, F_LEARNED_AT), &a->learned_at, 'd', 8, 3)) {
        goto dev;
    }
    if (!get_array(SLOT(self, F_SD_CACHE), &a->sd_cache, 'd', 8, 3)) {
        goto learned_at;
    }
    if (!get_array(SLOT(self, F_DAILY), &a->daily, 'f', 4, 1)) {
        goto sd_cache;
    }
    a->held = 1;
    return 1;
sd_cache:
    PyBuffer_Release(&a->sd_cache);
learned_at:
    PyBuffer_Release(&a->learned_at);
dev:
    PyBuffer_Release(&a->dev);
level:
    PyBuffer_Release(&a->level);
n:
    PyBuffer_Release(&a->n);
    return 0;
}

/* ChannelModel._flat_score */
static inline double
flat_score(long run, double rep_p)
{
    if (run <= 0) {
        return 0.0;
    }
    double x = (double)run * -log10(rep_p > REP_FLOOR ? rep_p : REP_FLOOR);
    x *= x;
    x *= x;
    return x / (x + FLAT_HALF4);
}

PyDoc_STRVAR(step_doc,
"step(model, value, ts, ctx, reliable, learn, tod) -> float\n\n"
"ChannelModel.step(value, ts, ctx, reliable, learn, tod) of ``model``, compiled: the same\n"
"state and score, bit for bit (the pure-Python method runs the calls this does not cover).");

static PyObject *
step(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (!ready("step", nargs, 7)) {
        return NULL;
    }
    PyObject *self = args[0], *value_o = args[1], *ts_o = args[2], *ctx_o = args[3];
    PyObject *tod_o = args[6];
    /* -- whether this call is the common case; nothing is touched before it is known -- */
    if (Py_TYPE(self) != bound_cls) {
        /* self.step(...): a subclass may have its own (and its own slots) */
        return PyObject_VectorcallMethod(s_step, args, 7, NULL);
    }
    if (!PyFloat_CheckExact(value_o)
        || !PyFloat_CheckExact(ts_o) || !PyLong_CheckExact(ctx_o)) {
        return fallback(args);
    }
    int ok = 1;
    long ctx = small_int(ctx_o, &ok);
    if (!ok || ctx < 0 || ctx > 2) {
        return fallback(args);
    }
    for (int i = 0; i < N_FIELDS; i++) {
        if (SLOT(self, i) == NULL) {
            return fallback(args);  /* (it raises AttributeError) */
        }
    }
    for (size_t i = 0; i < sizeof(FLOATS) / sizeof(FLOATS[0]); i++) {
        if (!PyFloat_CheckExact(SLOT(self, FLOATS[i]))) {
            return fallback(args);
        }
    }
    long ints[N_FIELDS];
    for (size_t i = 0; i < sizeof(INTS) / sizeof(INTS[0]); i++) {
        PyObject *o = SLOT(self, INTS[i]);
        if (!PyLong_CheckExact(o)) {
            return fallback(args);
        }
        ints[INTS[i]] = small_int(o, &ok);
    }
    PyObject *rate_o = SLOT(self, F_PROFILE_RATE), *prior_o = SLOT(self, F_PRIOR_SCALE);
    PyObject *window = SLOT(self, F_RECENT);
    if (!ok || (rate_o != Py_None && !PyFloat_CheckExact(rate_o))
        || (prior_o != Py_None && !PyFloat_CheckExact(prior_o)) || !PyList_CheckExact(window)
        || PyList_GET_SIZE(window) > 2) {
        return fallback(args);
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(window); i++) {
        if (!PyFloat_CheckExact(PyList_GET_ITEM(window, i))) {
            return fallback(args);
        }
    }
    long warmup = ints[F_WARMUP];
    if (warmup <= 0 || F(self, F_TAU) == 0.0 || F(self, F_TAU_SCALE) == 0.0
        || F(self, F_CUSUM_H) == 0.0 || F(self, F_ON4) == 0.0) {
        return fallback(args);  /* degenerate parameters: Python says what is wrong */
    }
    long i0 = 0, i1 = 0;
    double f = 0.0;
    int has_tod = tod_o != Py_None;
    if (has_tod) {
        if (!PyTuple_CheckExact(tod_o) || PyTuple_GET_SIZE(tod_o) != 3
            || !PyLong_CheckExact(PyTuple_GET_ITEM(tod_o, 0))
            || !PyLong_CheckExact(PyTuple_GET_ITEM(tod_o, 1))
            || !PyFloat_CheckExact(PyTuple_GET_ITEM(tod_o, 2))) {
            return fallback(args);
        }
        i0 = small_int(PyTuple_GET_ITEM(tod_o, 0), &ok);
        i1 = small_int(PyTuple_GET_ITEM(tod_o, 1), &ok);
        f = PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(tod_o, 2));
    }
    int reliable = PyObject_IsTrue(args[4]);
    if (reliable < 0) {
        return NULL;
    }
    if (!reliable) {  /* if not reliable: return 0.0 */
        return PyFloat_FromDouble(0.0);
    }
    int learn = PyObject_IsTrue(args[5]);
    if (learn < 0) {
        return NULL;
    }
    /* learn == baseline.LEARN_LOWS (2, an int, not a bool): a departure below is learned as a
     * new baseline learns (an int too large for a long is merely true, as in Python) */
    int overflow = 0;
    int learn_lows = PyLong_CheckExact(args[5])
                     && PyLong_AsLongAndOverflow(args[5], &overflow) == 2 && !overflow;
    Arrays a;
    if (!acquire(self, &a)) {
        return fallback(args);
    }
    long long *n_arr = (long long *)a.n.buf;
    double *level = (double *)a.level.buf, *dev = (double *)a.dev.buf;
    double *learned_at = (double *)a.learned_at.buf, *sd_cache = (double *)a.sd_cache.buf;
    float *daily = (float *)a.daily.buf;
    Py_ssize_t n_daily = a.daily.len / 4;
    long long n_ctx = n_arr[ctx];
    if (!ok || n_ctx < warmup || n_ctx == 0
        || (has_tod && (i0 < 0 || i1 < 0 || i0 >= n_daily || i1 >= n_daily
                        || n_daily != 2 * DAY_BINS))) {
        release(&a);
        return fallback(args);  /* a baseline still warming up: _baseline() decides */
    }

    /* -- the step (baseline.ChannelModel.step) -- */
    double value = PyFloat_AS_DOUBLE(value_o), ts = PyFloat_AS_DOUBLE(ts_o);
    double max_gap = F(self, F_MAX_GAP);
    double dt = ts - F(self, F_RECENT_AT);  /* dt = ts - self.recent_at */
    double step_s = dt;
    if (dt > max_gap) {
        if (PyList_SetSlice(window, 0, PyList_GET_SIZE(window), NULL) < 0) {  /* clear() */
            goto error;
        }
        dt = CUSUM_UNIT;
    }
    long run = ints[F_FLAT_RUN];
    long long_run = ints[F_LONG_RUN];
    double up = F(self, F_CUSUM_UP), down = F(self, F_CUSUM_DOWN);
    Py_ssize_t wl = PyList_GET_SIZE(window);
    if (wl && value == PyFloat_AS_DOUBLE(PyList_GET_ITEM(window, wl - 1))) {
        run += 1;
        if (set_i(self, F_FLAT_RUN, run) < 0) {
            goto error;
        }
    }
    else if (run) {
        if (run > long_run) {
            long_run = run;
            if (set_i(self, F_LONG_RUN, long_run) < 0) {
                goto error;
            }
        }
        run = 0;
        if (set_i(self, F_FLAT_RUN, 0) < 0) {
            goto error;
        }
        if (up == 0.0 && down == 0.0) {
            if (set_f(self, F_KNOWN_SINCE, NAN) < 0) {
                goto error;
            }
        }
    }
    double xs, first;  /* first: window[0] once updated */
    PyObject *xs_o;
    if (wl == 2) {
        PyObject *a_o = PyList_GET_ITEM(window, 0), *b_o = PyList_GET_ITEM(window, 1);
        Py_INCREF(value_o);
        PyList_SET_ITEM(window, 0, b_o);  /* window[0] = b (the list's reference moves) */
        PyList_SET_ITEM(window, 1, value_o);  /* window[1] = value */
        double av = PyFloat_AS_DOUBLE(a_o), bv = PyFloat_AS_DOUBLE(b_o);
        first = bv;
        PyObject *lo = a_o, *hi = b_o;
        if (av > bv) {
            double t = av;
            av = bv;
            bv = t;
            lo = b_o;
            hi = a_o;
        }
        if (value <= av) {
            xs = av;
            xs_o = lo;
        }
        else if (value >= bv) {
            xs = bv;
            xs_o = hi;
        }
        else {
            xs = value;
            xs_o = value_o;
        }
        set_obj(self, F_XS, xs_o);
        Py_DECREF(a_o);  /* (after its last use: the window held it) */
    }
    else {
        xs = value;
        if (PyList_Append(window, value_o) < 0) {
            goto error;
        }
        set_obj(self, F_XS, value_o);
        first = PyFloat_AS_DOUBLE(PyList_GET_ITEM(window, 0));
    }
    set_obj(self, F_RECENT_AT, ts_o);

    /* settled: expected, sd = self.level[ctx], self.sd_cache[ctx] */
    double expected = level[ctx], sd = sd_cache[ctx];
    double off = 0.0;
    int has_rate = rate_o != Py_None;
    if (has_tod && has_rate) {
        double w0 = filled(daily, i0, ints[F_WEEKEND_SEEN]);
        off = w0 + f * (filled(daily, i1, ints[F_WEEKEND_SEEN]) - w0);
        expected += off;
    }
    if (set_f(self, F_EXPECTED, expected) < 0 || set_f(self, F_SD, sd) < 0) {
        goto error;
    }
    set_obj(self, F_SETTLED, Py_True);
    if (sd == 0.0) {
        zero_division();
        goto error;
    }
    double z = (xs - expected) / sd;
    if (set_f(self, F_Z, z) < 0) {
        goto error;
    }
    double zr = (value - expected) / sd;
    if (!(-Z_MAX < zr && zr < Z_MAX)) {
        zr = Z_MAX;
    }

    /* CUSUM on the clipped z */
    double k = F(self, F_CUSUM_K);
    double up_since = F(self, F_UP_SINCE), down_since = F(self, F_DOWN_SINCE);
    if (-k <= z && z <= k && up == 0.0 && down == 0.0) {
        set_obj(self, F_UP_SINCE, ts_o);
        set_obj(self, F_DOWN_SINCE, ts_o);
        up_since = down_since = ts;
    }
    else {
        if (!(-Z_MAX < z && z < Z_MAX)) {
            z = z > 0.0 ? Z_MAX : -Z_MAX;
            if (set_f(self, F_Z, z) < 0) {
                goto error;
            }
        }
        double zc = z > 6.0 ? 6.0 : (z < -6.0 ? -6.0 : z);
        double per = (dt > 0.0 && ts - F(self, F_BORN) >= TREND_AFTER_S) ? dt / 60.0 : 0.0;
        double zz = F(self, F_ZZ), z2 = F(self, F_Z2);
        if (per != 0.0 && zz > RHO_FREE * z2 && 0.0 < step_s && step_s <= max_gap) {
            if (z2 == 0.0) {
                zero_division();
                goto error;
            }
            double rho = zz / z2;
            double tc = rho < 0.999 ? step_s / -log(rho) : step_s * 1000.0;
            if (tc > CORR_FREE_S) {
                per *= sqrt(CORR_FREE_S / tc);
            }
        }
        up += per * (zc - k);
        if (up <= 0.0) {
            up = 0.0;
            set_obj(self, F_UP_SINCE, ts_o);
            up_since = ts;
        }
        down -= per * (zc + k);
        if (down <= 0.0) {
            down = 0.0;
            set_obj(self, F_DOWN_SINCE, ts_o);
            down_since = ts;
        }
        double cap = 4.0 * F(self, F_CUSUM_H);
        up = up < cap ? up : cap;
        down = down < cap ? down : cap;
        if (set_f(self, F_CUSUM_UP, up) < 0 || set_f(self, F_CUSUM_DOWN, down) < 0) {
            goto error;
        }
        if (up == 0.0 && down == 0.0 && run < 3) {
            if (set_f(self, F_KNOWN_SINCE, NAN) < 0) {
                goto error;
            }
        }
    }

    double tail = F(self, F_TAIL_P);
    if (learn && (n_ctx < 4 * (long long)warmup
                  || ts - learned_at[ctx] >= F(self, F_LEARN_EVERY))) {
        double az = z >= 0.0 ? z : -z;
        double weight = 1.0, weight_scale = 1.0, clip = sd;
        double freeze_z = F(self, F_FREEZE_Z);
        int young = 0;  /* a departure below, learned as a young baseline learns */
        if (learn_lows && z < 0.0) {
            if (az >= freeze_z) {
                young = 1;
                clip = 0.0;
            }
        }
        else if (az >= freeze_z) {
            double since = z > 0.0 ? up_since : down_since;
            if (ts - since < F(self, F_ABSORB_AFTER)) {
                weight = 0.1;
                if (az >= 1.5 * freeze_z) {
                    weight_scale = 0.1;
                }
            }
            else {
                clip = 0.0;
            }
        }
        double rep_p = F(self, F_REP_P);
        if (run < 3 || flat_score(run - long_run, rep_p) < 0.25) {
            long seen = ints[F_REP_N];
            if (seen < REP_MEMORY) {
                if (set_i(self, F_REP_N, seen + 1) < 0) {
                    goto error;
                }
                seen += 2;
            }
            rep_p += ((run > 0 ? 1.0 : 0.0) - rep_p) / (double)seen;
            if (set_f(self, F_REP_P, rep_p) < 0) {
                goto error;
            }
            double tail_p = tail;
            tail_p += (((zr >= TAIL_Z || zr <= -TAIL_Z) ? 1.0 : 0.0) - tail_p) / (double)seen;
            if (set_f(self, F_TAIL_P, tail_p) < 0) {
                goto error;
            }
            if (!(n_ctx & 3) && PyList_GET_SIZE(window) == 2) {
                double zp = (first - expected) / sd;
                double fz = freeze_z;
                if (-fz < zr && zr < fz && -fz < zp && zp < fz) {
                    double wt = seen > 4 ? 4.0 / (double)seen : 1.0;
                    double zz = F(self, F_ZZ), z2 = F(self, F_Z2);
                    zz += (zr * zp - zz) * wt;
                    z2 += (zr * zr - z2) * wt;
                    if (set_f(self, F_ZZ, zz) < 0 || set_f(self, F_Z2, z2) < 0) {
                        goto error;
                    }
                }
            }
            double own = expected;
            if (n_ctx < MIN_SCALE_READINGS) {
                own = n_ctx ? level[ctx] + off : expected - off;
            }
            /* -- ContextStats._learn_stats(value, ts, ctx, clip, weight, own, weight_scale);
             *    n = n_ctx > 0 here -- */
            double born = F(self, F_BORN);
            if (born != born) {
                set_obj(self, F_BORN, ts_o);
                born = ts;
            }
            double ldt = ts - learned_at[ctx];
            ldt = ldt < 0.0 ? 0.0 : (ldt > MAX_DT ? MAX_DT : ldt);
            double warm = n_ctx < 4 * (long long)warmup ? 1.0 / (double)(n_ctx + 1) : 0.0;
            double tau = ts - born + YOUNG_TAU;
            double self_tau = F(self, F_TAU);
            if (tau < YOUNG_TAU || young) {
                tau = YOUNG_TAU;
            }
            if (tau > self_tau || tau != tau) {
                tau = self_tau;
            }
            if (tau == 0.0) {
                zero_division();
                goto error;
            }
            double a_level = ldt / tau;
            double a_scale = ldt / F(self, F_TAU_SCALE);
            if (warm > a_level) {
                a_level = warm;
            }
            if (warm > a_scale) {
                a_scale = warm;
            }
            a_level *= weight;
            a_scale *= weight_scale;
            double r = own == own ? value - own : value - level[ctx];
            double lim = (0.0 < clip && clip < R_MAX) ? F(self, F_HUBER) * clip : R_MAX;
            r = r > lim ? lim : (r < -lim ? -lim : r);
            double lvl = level[ctx] + a_level * r;
            level[ctx] = lvl;
            double dv = dev[ctx];
            dv = dv + a_scale * ((r >= 0.0 ? r : -r) - dv);
            dev[ctx] = dv;
            long long m = n_ctx + 1;
            n_arr[ctx] = m;
            learned_at[ctx] = ts;
            double dev_sd = GAUSS_MAD * dv, new_sd;
            if (prior_o != Py_None) {
                double prior = PyFloat_AS_DOUBLE(prior_o);
                double w = (double)warmup;
                if (dev_sd < 1e150) {
                    new_sd = sqrt((w * prior * prior + (double)m * dev_sd * dev_sd)
                                  / (w + (double)m));
                }
                else {
                    new_sd = dev_sd * sqrt((double)m / (w + (double)m));
                }
            }
            else {
                new_sd = dev_sd;
            }
            double floor_ = F(self, F_MIN_SCALE);
            double rel = REL_RESOLUTION * fabs(lvl);
            if (rel > floor_) {
                floor_ = rel;
            }
            sd_cache[ctx] = new_sd > floor_ ? new_sd : (floor_ > 0.0 ? floor_ : 1e-12);
            /* -- back in step: the daily profile -- */
            if (has_tod && has_rate && n_ctx >= warmup) {
                long hour = f < 0.5 ? i0 : i1;
                if (hour != ints[F_HOUR_BIN]) {
                    /* self._learn_profile(rate, value, ctx, tod, weight): folds the hour in */
                    release(&a);
                    PyObject *w_o = PyFloat_FromDouble(weight);
                    if (w_o == NULL) {
                        goto error;
                    }
                    PyObject *margs[] = {self, rate_o, value_o, ctx_o, tod_o, w_o};
                    PyObject *res = PyObject_VectorcallMethod(
                        s_learn_profile, margs, 6, NULL);
                    Py_DECREF(w_o);
                    if (res == NULL) {
                        goto error;
                    }
                    Py_DECREF(res);
                }
                else {
                    if (set_i(self, F_HOUR_ALL, ints[F_HOUR_ALL] + 1) < 0) {
                        goto error;
                    }
                    if (weight == 1.0) {
                        double d = value - lvl;
                        double hs = F(self, F_HOUR_SUM);
                        hs += (-1e300 < d && d < 1e300) ? d : copysign(1e300, d);
                        if (set_f(self, F_HOUR_SUM, hs) < 0
                            || set_i(self, F_HOUR_N, ints[F_HOUR_N] + 1) < 0) {
                            goto error;
                        }
                    }
                }
            }
        }
    }
    release(&a);

    /* the score (_score, _flat_score, _faded) */
    double on4 = F(self, F_ON4);
    double z4 = z * z;
    z4 *= z4;
    double p = z4 / (z4 + on4);
    double r4 = zr * zr;
    r4 *= r4;
    double spike = 0.8 * r4 / (r4 + SPIKE_K * on4);
    if (tail != 0.0) {
        spike *= TAIL_HALF / (tail + TAIL_HALF);
    }
    if (spike > p) {
        p = spike;
    }
    double cusum = up > down ? up : down;
    if (cusum != 0.0) {
        double c = cusum / F(self, F_CUSUM_H);
        c *= c;
        c /= c + 1.0;
        if (c > p) {
            p = c;
        }
    }
    if (run >= 3 && run - long_run >= 3) {
        double x = flat_score(run - long_run, F(self, F_REP_P));
        if (x > p) {
            p = x;
        }
    }
    if (cusum != 0.0 || run >= 3) {
        double known = F(self, F_KNOWN_SINCE);
        long tenths = (long)(p * 10.0);
        if (known != known) {
            if (p >= 0.5) {
                set_obj(self, F_KNOWN_SINCE, ts_o);
                if (set_i(self, F_KNOWN_TENTHS, tenths) < 0) {
                    return NULL;
                }
            }
        }
        else if (tenths > ints[F_KNOWN_TENTHS]) {  /* grown to a new tenth: not faded */
            if (set_i(self, F_KNOWN_TENTHS, tenths) < 0) {
                return NULL;
            }
        }
        else if (ts - known > KNOWN_S) {
            p *= exp((known + KNOWN_S - ts) / FADE_S);
        }
    }
    return PyFloat_FromDouble(p);

error:
    release(&a);
    return NULL;
}

SLOTS_MODULE("_step", "ChannelModel", "step", step, step_doc)

PyMODINIT_FUNC
PyInit__step(void)
{
    s_learn_profile = PyUnicode_InternFromString("_learn_profile");
    s_step = PyUnicode_InternFromString("step");
    if (s_learn_profile == NULL || s_step == NULL) {
        return NULL;
    }
    return PyModule_Create(&module);
}
