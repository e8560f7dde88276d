/* The exact Shapley path's inner loop for an MLP whose chain after the first linear layer is
 * ReLU, a linear layer, ReLU and the target's column, fused in one pass per coalition block:
 *
 *   score(b, k) = bias3 + sum_o w3[o] * relu( sum_u W2[o][u] * relu(low[u][b][l] + high[u][b][h]) )
 *
 * for background row b and coalition k = l + h * nlow (the half tables of
 * neuralscope.attribution.shapley._HalfTables, whose constant unit carries the second
 * layer's bias). Torch needs four operations and two buffers a block for the same (the
 * first layer's add-ReLU, the product, the ReLU, the column); here the first layer's
 * outputs and the second layer's never leave the registers.
 *
 * Private to neuralscope.attribution.shapley, which calls it only with contiguous float32
 * CPU tensors of the shapes below, outputs padded to a multiple of 16 with zero weights, and
 * nlow a multiple of 16; it falls back to torch where this module was not built. x86-64
 * builds carry an AVX-512, an AVX2 and a baseline version, chosen at load time.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define ROWS 16 /* coalitions per vector */
#define OUTS 16 /* second-layer outputs per pass over the units */

typedef float v16 __attribute__((vector_size(64)));
typedef int32_t i16 __attribute__((vector_size(64)));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(NEURALSCOPE_ONE_TARGET)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

static inline __attribute__((always_inline)) v16 relu(v16 v) {
    const v16 zero = {0};
    return (v16)((i16)v & (v > zero));
}

/* The scores of 16 coalitions (low entries l0..l0+15, high entry h) of one background row,
 * from the first-layer units in live (the others are at most 0 for all 16: they add nothing). */
static inline __attribute__((always_inline)) v16 block_scores(const float *low, const float *high,
                                                              const Py_ssize_t *live, Py_ssize_t count,
                                                              Py_ssize_t low_stride, Py_ssize_t high_stride,
                                                              const float *w2t, Py_ssize_t outputs, const float *w3) {
    v16 score = {0};
    for (Py_ssize_t ob = 0; ob < outputs; ob += OUTS) {
        v16 acc[OUTS];
        for (int o = 0; o < OUTS; o++) acc[o] = (v16){0};
        for (Py_ssize_t i = 0; i < count; i++) {
            Py_ssize_t u = live[i];
            v16 lo;
            memcpy(&lo, low + u * low_stride, sizeof lo);
            v16 hidden = relu(lo + high[u * high_stride]);
            const float *w = w2t + u * outputs + ob;
#pragma GCC unroll 16
            for (int o = 0; o < OUTS; o++) acc[o] += hidden * w[o];
        }
#pragma GCC unroll 16
        for (int o = 0; o < OUTS; o++) score += relu(acc[o]) * w3[ob + o];
    }
    return score;
}

/* Per background row and run of 16 low coalitions, each unit's largest low entry; per high
 * entry, the units whose largest sum is above 0 (a unit at most 0 for the whole run adds
 * nothing after its ReLU: skipped, exactly, since rounded addition is monotone). */
CLONES static void coalition_scores(const float *low, const float *high, Py_ssize_t units, Py_ssize_t rows,
                                    Py_ssize_t nlow, Py_ssize_t nhigh, const float *w2t, Py_ssize_t outputs,
                                    const float *w3, float bias3, float *out, float *largest, Py_ssize_t *live) {
    const Py_ssize_t low_stride = rows * nlow, high_stride = rows * nhigh;
    for (Py_ssize_t b = 0; b < rows; b++) {
        for (Py_ssize_t l = 0; l < nlow; l += ROWS) {
            const float *low_run = low + b * nlow + l;
            for (Py_ssize_t u = 0; u < units; u++) {
                float top = low_run[u * low_stride];
                for (int r = 1; r < ROWS; r++) top = low_run[u * low_stride + r] > top ? low_run[u * low_stride + r] : top;
                largest[u] = top;
            }
            for (Py_ssize_t h = 0; h < nhigh; h++) {
                const float *high_entry = high + b * nhigh + h;
                Py_ssize_t count = 0;
                for (Py_ssize_t u = 0; u < units; u++)
                    if (largest[u] + high_entry[u * high_stride] > 0.0f) live[count++] = u;
                v16 s = block_scores(low_run, high_entry, live, count, low_stride, high_stride, w2t, outputs, w3)
                        + bias3;
                memcpy(out + (b * nhigh + h) * nlow + l, &s, sizeof s);
            }
        }
    }
}

static const float *address(unsigned long long a) { return (const float *)(uintptr_t)a; }

static PyObject *relu_linear_relu_column(PyObject *self, PyObject *args) {
    unsigned long long low, high, w2t, w3, out;
    Py_ssize_t units, rows, nlow, nhigh, outputs;
    float bias3;
    if (!PyArg_ParseTuple(args, "KKnnnnKnKfK", &low, &high, &units, &rows, &nlow, &nhigh, &w2t, &outputs, &w3,
                          &bias3, &out))
        return NULL;
    if (units <= 0 || rows <= 0 || nlow <= 0 || nhigh <= 0 || outputs <= 0 || nlow % ROWS || outputs % OUTS) {
        PyErr_SetString(PyExc_ValueError, "relu_linear_relu_column needs positive sizes, nlow and outputs multiples of 16");
        return NULL;
    }
    float *largest = PyMem_RawMalloc(units * sizeof(float));
    Py_ssize_t *live = PyMem_RawMalloc(units * sizeof(Py_ssize_t));
    if (largest == NULL || live == NULL) {
        PyMem_RawFree(largest);
        PyMem_RawFree(live);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    coalition_scores(address(low), address(high), units, rows, nlow, nhigh, address(w2t), outputs, address(w3),
                     bias3, (float *)(uintptr_t)out, largest, live);
    Py_END_ALLOW_THREADS
    PyMem_RawFree(largest);
    PyMem_RawFree(live);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"relu_linear_relu_column", relu_linear_relu_column, METH_VARARGS,
     "relu_linear_relu_column(low, high, units, rows, nlow, nhigh, w2t, outputs, w3, bias3, out): addresses "
     "of float32 arrays low (units, rows, nlow), high (units, rows, nhigh), w2t (units, outputs), w3 (outputs,) "
     "and out (rows, nhigh * nlow)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_coalitions", NULL, -1, methods};

PyMODINIT_FUNC PyInit__coalitions(void) { return PyModule_Create(&module); }
