// ---- CUDA on the CPU, for testing kernels without a GPU -------------------------------------------
// Each CUDA thread of a block is a fiber (ucontext) on one OS thread; blocks run one after another.
// __syncthreads() and warp shuffles are barriers the scheduler releases once every live thread of the
// block (or of the warp) has reached them, so shared memory (plain `static` storage: one block at a time)
// behaves as on the GPU, and a barrier that some threads never reach is reported instead of hanging.
// Kernels not declared synchronizing run "direct": each thread a plain call, one after another (no
// fibers, much faster); one of them that reaches a barrier after all stops with an error.
#include <math.h>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>
#include <type_traits>
#include <ucontext.h>

struct dim3 { unsigned x = 1, y = 1, z = 1; };

namespace emu {
enum class Wait { running, block_barrier, warp_sync, done };

struct Fiber {
    ucontext_t context;
    dim3 index;
    int linear = 0;  // x + y·bx + z·bx·by: lanes are consecutive linear indices, as on the GPU
    Wait wait = Wait::running;
    uint64_t exchange = 0;  // the value a shuffle publishes
};

struct Launch {
    dim3 grid, block, block_index;
    std::vector<Fiber> fibers;
    std::unique_ptr<char[]> stacks;  // not zeroed: the fibers' stacks need no initial value
    bool direct = false;
    size_t stack_size = 64 * 1024;
    ucontext_t scheduler;
    int current = 0;
    std::function<void()> body;
    std::string error;
};

inline thread_local Launch* launch_state = nullptr;

inline Fiber& self() { return launch_state->fibers[launch_state->current]; }

inline void yield_to_scheduler() { swapcontext(&self().context, &launch_state->scheduler); }

// Thrown in direct mode, where there is no scheduler to return to.
struct DirectFailure {};

// Stops this thread and the launch with `message` (reported by launch()).
[[noreturn]] inline void fail(const std::string& message) {
    if (launch_state->error.empty()) launch_state->error = message;
    if (launch_state->direct) throw DirectFailure{};
    self().wait = Wait::done;
    setcontext(&launch_state->scheduler);
    std::abort();
}

inline void wait_at(Wait kind) {
    if (launch_state->direct) {
        fail(std::string(kind == Wait::block_barrier ? "__syncthreads()" : "a warp shuffle") +
             " in a kernel its family does not list as synchronizing (KernelSource.synchronizing)");
    }
    self().wait = kind;
    yield_to_scheduler();
}

inline void fiber_main() {
    launch_state->body();
    self().wait = Wait::done;  // returning resumes uc_link, the scheduler
}

inline std::string describe_block() {
    char text[96];
    std::snprintf(text, sizeof text, "block (%u, %u, %u)", launch_state->block_index.x, launch_state->block_index.y,
                  launch_state->block_index.z);
    return text;
}

// Direct mode: every thread of the block as a plain call, in order.
inline bool run_block_direct(Launch& L) {
    const int n = (int)(L.block.x * L.block.y * L.block.z);
    try {
        for (int i = 0; i < n; i++) {
            Fiber& f = L.fibers[i];
            f.linear = i;
            f.index = dim3{(unsigned)(i % L.block.x), (unsigned)((i / L.block.x) % L.block.y),
                           (unsigned)(i / (L.block.x * L.block.y))};
            L.current = i;
            L.body();
        }
    } catch (const DirectFailure&) {
        return false;
    }
    return true;
}

// Runs every thread of the current block to completion, releasing barriers as they fill.
inline bool run_block(Launch& L) {
    if (L.direct) return run_block_direct(L);
    const int n = (int)(L.block.x * L.block.y * L.block.z);
    for (int i = 0; i < n; i++) {
        Fiber& f = L.fibers[i];
        f.linear = i;
        f.index = dim3{(unsigned)(i % L.block.x), (unsigned)((i / L.block.x) % L.block.y),
                       (unsigned)(i / (L.block.x * L.block.y))};
        f.wait = Wait::running;
        getcontext(&f.context);
        f.context.uc_stack.ss_sp = L.stacks.get() + (size_t)i * L.stack_size;
        f.context.uc_stack.ss_size = L.stack_size;
        f.context.uc_link = &L.scheduler;
        makecontext(&f.context, fiber_main, 0);
    }
    for (;;) {
        for (int i = 0; i < n; i++) {
            if (L.fibers[i].wait != Wait::running) continue;
            L.current = i;
            swapcontext(&L.scheduler, &L.fibers[i].context);
            if (!L.error.empty()) return false;
        }
        int done = 0, at_block = 0, at_warp = 0;
        for (int i = 0; i < n; i++) {
            done += L.fibers[i].wait == Wait::done;
            at_block += L.fibers[i].wait == Wait::block_barrier;
            at_warp += L.fibers[i].wait == Wait::warp_sync;
        }
        if (done == n) return true;
        bool released = false;
        for (int base = 0; base < n; base += 32) {  // a warp whose lanes all wait in a shuffle goes on
            const int end = base + 32 < n ? base + 32 : n;
            int waiting = 0, exited = 0;
            for (int i = base; i < end; i++) {
                exited += L.fibers[i].wait == Wait::done;
                waiting += L.fibers[i].wait == Wait::warp_sync;
            }
            if (waiting == 0 || waiting + exited < end - base) continue;  // others of the warp are elsewhere
            if (exited > 0) {
                L.error = "warp shuffle in " + describe_block() + ", warp " + std::to_string(base / 32) + ": " +
                          std::to_string(exited) + " of its lanes have exited (a full mask needs every lane)";
                return false;
            }
            for (int i = base; i < end; i++) L.fibers[i].wait = Wait::running;
            released = true;
        }
        if (!released && at_block > 0 && at_block == n - done) {
            if (done > 0) {  // undefined behaviour in CUDA, even where it happens to work
                L.error = "__syncthreads() in " + describe_block() + " after " + std::to_string(done) + " of its " +
                          std::to_string(n) + " threads have exited";
                return false;
            }
            for (int i = 0; i < n; i++) L.fibers[i].wait = Wait::running;
            released = true;
        }
        if (!released) {
            L.error = "deadlock in " + describe_block() + ": " + std::to_string(at_block) +
                      " threads wait in __syncthreads() and " + std::to_string(at_warp) +
                      " in a warp shuffle that the others never reach";
            return false;
        }
    }
}

template <typename... A, size_t... I>
void call_kernel(void (*kernel)(A...), void** params, std::index_sequence<I...>) {
    kernel(*static_cast<std::remove_cv_t<std::remove_reference_t<A>>*>(params[I])...);
}

// dims: grid x, y, z then block x, y, z. params: one pointer per kernel argument, as cuLaunchKernel's.
// direct: run the threads as plain calls (for kernels without barriers).
template <typename... A>
int launch(void (*kernel)(A...), const unsigned* dims, void** params, char* error, int error_size, bool direct) {
    Launch L;
    L.direct = direct;
    L.grid = dim3{dims[0], dims[1], dims[2]};
    L.block = dim3{dims[3], dims[4], dims[5]};
    const size_t threads = (size_t)L.block.x * L.block.y * L.block.z;
    if (threads == 0 || threads > 1024 || L.grid.x == 0 || L.grid.y == 0 || L.grid.z == 0 || L.grid.y > 65535 ||
        L.grid.z > 65535 || L.block.z > 64) {
        std::snprintf(error, error_size, "invalid launch: grid (%u, %u, %u), block (%u, %u, %u)", dims[0], dims[1],
                      dims[2], dims[3], dims[4], dims[5]);
        return 1;
    }
    L.fibers.resize(threads);
    if (!direct) L.stacks.reset(new char[threads * L.stack_size]);
    L.body = [&] { call_kernel(kernel, params, std::index_sequence_for<A...>{}); };
    Launch* previous = launch_state;
    launch_state = &L;
    bool ok = true;
    for (unsigned z = 0; ok && z < L.grid.z; z++)
        for (unsigned y = 0; ok && y < L.grid.y; y++)
            for (unsigned x = 0; ok && x < L.grid.x; x++) {
                L.block_index = dim3{x, y, z};
                ok = run_block(L);
            }
    launch_state = previous;
    if (!ok) std::snprintf(error, error_size, "%s", L.error.c_str());
    return ok ? 0 : 1;
}

template <typename T> T shuffle(unsigned mask, T value, int (*source)(int lane, int argument), int argument) {
    static_assert(sizeof(T) <= sizeof(uint64_t), "shuffle of a type wider than 8 bytes");
    if (mask != 0xffffffffu) fail("warp shuffle with a partial mask: the emulator only knows full warps");
    Fiber& me = self();
    std::memcpy(&me.exchange, &value, sizeof(T));
    wait_at(Wait::warp_sync);  // every lane has published its value
    const int lane = me.linear & 31, from = source(lane, argument);
    T result = value;
    if (from >= 0 && from < 32) {
        const int index = (me.linear & ~31) + from;
        if (index >= (int)launch_state->fibers.size()) fail("warp shuffle reads a lane the block does not have");
        std::memcpy(&result, &launch_state->fibers[index].exchange, sizeof(T));
    }
    wait_at(Wait::warp_sync);  // every lane has read before anyone publishes again
    return result;
}
inline int shuffle_down_lane(int lane, int delta) { return lane + delta < 32 ? lane + delta : lane; }
inline int shuffle_up_lane(int lane, int delta) { return lane - delta >= 0 ? lane - delta : lane; }
inline int shuffle_xor_lane(int lane, int mask) { return lane ^ mask; }
inline int shuffle_index_lane(int, int source) { return source & 31; }
}  // namespace emu

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __shared__ static
#define warpSize 32
#define threadIdx (emu::self().index)
#define blockIdx (emu::launch_state->block_index)
#define blockDim (emu::launch_state->block)
#define gridDim (emu::launch_state->grid)

inline void __syncthreads() { emu::wait_at(emu::Wait::block_barrier); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { emu::shuffle(mask, 0, emu::shuffle_index_lane, 0); }
inline void __threadfence() {}
template <typename T> T __shfl_down_sync(unsigned mask, T v, unsigned delta) {
    return emu::shuffle(mask, v, emu::shuffle_down_lane, (int)delta);
}
template <typename T> T __shfl_up_sync(unsigned mask, T v, unsigned delta) {
    return emu::shuffle(mask, v, emu::shuffle_up_lane, (int)delta);
}
template <typename T> T __shfl_xor_sync(unsigned mask, T v, int lane_mask) {
    return emu::shuffle(mask, v, emu::shuffle_xor_lane, lane_mask);
}
template <typename T> T __shfl_sync(unsigned mask, T v, int source) {
    return emu::shuffle(mask, v, emu::shuffle_index_lane, source);
}
// One OS thread runs every fiber and switches only at barriers, so a read-modify-write is atomic.
template <typename T> T atomicAdd(T* address, T value) { T old = *address; *address = old + value; return old; }
template <typename T> T atomicMax(T* address, T value) { T old = *address; if (value > old) *address = value; return old; }

inline float __int_as_float(int x) { float f; std::memcpy(&f, &x, 4); return f; }
inline float __uint_as_float(unsigned x) { float f; std::memcpy(&f, &x, 4); return f; }
inline int __float_as_int(float x) { int i; std::memcpy(&i, &x, 4); return i; }
inline unsigned __float_as_uint(float x) { unsigned i; std::memcpy(&i, &x, 4); return i; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
template <typename T> inline T min(T a, T b) { return b < a ? b : a; }
template <typename T> inline T max(T a, T b) { return a < b ? b : a; }
// ---- end of emulation header ----------------------------------------------------------------------
