/* The one hand-written accessor: rte_errno is a thread-local behind a macro, which
 * neither bindgen nor Rust's extern statics can reach. Everything else that DPDK
 * declares `static inline` is wrapped by bindgen (wrap_static_fns). */
#include "wrapper.h"

int flowlift_rte_errno(void) { return rte_errno; }
