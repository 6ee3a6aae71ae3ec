// Exact sums of u64 ranges on the GPU: the part shared by both kernel variants.
//
// A batch is a run of at most 2^32 consecutive values (offsets 0..=params.last from the value
// `first`) that never crosses a multiple of 2^32, so every value's high half is first_hi. It is
// cut into segments: the pieces of chunks that fall in it, segment s starting at offset starts[s].
// Elements, not segments, are spread over invocations: invocation t of the batch adds the values
// at offsets t·k ..= t·k + k − 1 (k = per_invocation), whatever the chunk boundaries.
//
// Pass 1 (`main`), per invocation: where the host guarantees at most one segment boundary per run
// (`one_cut`), the whole run is added in one loop of 16-value trips, the same number for every
// full run, so invocations that execute together (a SIMD group on a CPU, a warp on a GPU) never
// wait for each other's segment boundaries; the loop keeps a copy of its sums at the block holding
// the boundary: the first piece is that copy plus the boundary block's first values (up to 15,
// added again), the second is the total minus the first. Otherwise (segments much shorter than a
// run, where lanes diverge little) the run is added piece by piece. A segment wholly inside its run is written to sums[] at once.
// Of the others it keeps two parts, each keyed by segment: L, the segment it starts in when that
// segment began earlier, and R, the segment it ends in when that segment goes on past its run.
// The workgroup then adds parts with equal keys (a segmented scan over its 512 keyed parts). A
// segment that stays inside the workgroup is written to sums[]; one that crosses the workgroup's
// left edge leaves its part in edges[2g], one that starts inside and crosses the right edge in
// edges[2g + 1]. A workgroup inside a single segment skips the scan: a plain tree sum.
//
// Pass 2 (`reduce`), one workgroup per crossing (a segment over several workgroups, listed by the
// host): edges[2·first + 1] + edges[2g] for every later workgroup g up to its last.
//
// Every sum is 128 bits as four u32 limbs (little-endian). No 64-bit atomics, no waiting between
// workgroups.
//
// Each variant file defines `run_sums(a, n, cut_block) -> RunSums`: the sum of the n values from
// offset a, and the sum of its first BLOCK·cut_block values (cut_block = NONE: no copy kept).

const WG: u32 = 256u;
const PARTS: u32 = 512u;
const NONE: u32 = 0xFFFFFFFFu;
// Values per trip of a variant's loop; a run's copy at its boundary is kept per block.
const BLOCK: u32 = 16u;

struct Params {
    first_lo: u32,
    first_hi: u32,
    last: u32,
    segments: u32,
    per_invocation: u32,
    groups: u32,
    groups_per_row: u32,
    crossings: u32,
    // 1: no run holds more than one segment boundary (see the top of this file).
    one_cut: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

// A run's total, and the copy its loop kept at the boundary block.
struct RunSums {
    total: vec4<u32>,
    before: vec4<u32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> starts: array<u32>;
// (segment, first workgroup, last workgroup, unused)
@group(0) @binding(2) var<storage, read> crossings: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> edges: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read_write> sums: array<vec4<u32>>;

var<workgroup> keys: array<u32, PARTS>;
var<workgroup> vals: array<vec4<u32>, PARTS>;
// The workgroup's first and last segment.
var<workgroup> span_segments: vec2<u32>;

fn carry(sum: u32, addend: u32) -> u32 {
    return select(0u, 1u, sum < addend);
}

// a + b on 128-bit values as four u32 limbs; totals stay below 2^128 so the top carry is dropped.
fn add128(a: vec4<u32>, b: vec4<u32>) -> vec4<u32> {
    let x = a.x + b.x;
    let k0 = carry(x, a.x);
    let y0 = a.y + b.y;
    let y = y0 + k0;
    let k1 = carry(y0, a.y) + carry(y, y0);
    let z0 = a.z + b.z;
    let z = z0 + k1;
    let k2 = carry(z0, a.z) + carry(z, z0);
    let w = a.w + b.w + k2;
    return vec4<u32>(x, y, z, w);
}

fn borrow(a: u32, b: u32) -> u32 {
    return select(0u, 1u, a < b);
}

// a − b on 128-bit values, a ≥ b.
fn sub128(a: vec4<u32>, b: vec4<u32>) -> vec4<u32> {
    let x = a.x - b.x;
    let k0 = borrow(a.x, b.x);
    let y0 = a.y - b.y;
    let y = y0 - k0;
    let k1 = borrow(a.y, b.y) + borrow(y0, k0);
    let z0 = a.z - b.z;
    let z = z0 - k1;
    let k2 = borrow(a.z, b.z) + borrow(z0, k1);
    let w = a.w - b.w - k2;
    return vec4<u32>(x, y, z, w);
}

// lo_sum + hi_sum·2^32 as 128-bit limbs, each sum given as (low word, high word) of a 64-bit value.
fn combine(lo_sum: vec2<u32>, hi_sum: vec2<u32>) -> vec4<u32> {
    let mid = lo_sum.y + hi_sum.x;
    return vec4<u32>(lo_sum.x, mid, hi_sum.y + carry(mid, lo_sum.y), 0u);
}

// Offset of the last value of segment s.
fn segment_end(s: u32) -> u32 {
    if s + 1u < params.segments {
        return starts[s + 1u] - 1u;
    }
    return params.last;
}

// The last segment in lo..=hi that starts at or before `offset`.
fn find_segment(offset: u32, lo0: u32, hi0: u32) -> u32 {
    var lo = lo0;
    var hi = hi0;
    while lo < hi {
        let mid = lo + (hi - lo + 1u) / 2u;
        if starts[mid] <= offset {
            lo = mid;
        } else {
            hi = mid - 1u;
        }
    }
    return lo;
}

// The sum of the values at offsets a..=b (b − a < per_invocation).
fn sum_offsets(a: u32, b: u32) -> vec4<u32> {
    return run_sums(a, b - a + 1u, NONE).total;
}

// The sum of every invocation's `value` in this workgroup (all invocations must call it).
fn reduce_tree(lid: u32, value: vec4<u32>) -> vec4<u32> {
    vals[lid] = value;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid < stride {
            vals[lid] = add128(vals[lid], vals[lid + stride]);
        }
        workgroupBarrier();
    }
    return vals[0];
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let g = wid.x + wid.y * params.groups_per_row;
    if g >= params.groups {
        return;
    }
    let k = params.per_invocation;
    let span = WG * k;
    // The batch holds at most 2^32 values, so offsets fit a u32; sums of offsets are clamped
    // before they could wrap.
    let wg_start = g * span;
    var wg_last = params.last;
    if params.last - wg_start >= span {
        wg_last = wg_start + span - 1u;
    }
    let offset = lid * k;
    let busy = wg_last - wg_start >= offset;
    var a = wg_start;
    var count = 0u;
    if busy {
        a = wg_start + offset;
        count = min(k - 1u, wg_last - a) + 1u;
    }
    // The segment this run starts in, and where it ends. The run is summed first, outside any
    // branch and with no barrier before it: a barrier ahead of the hot loop made llvmpipe keep the
    // loop's values in memory (1.3× slower). An idle invocation adds nothing.
    let s0 = find_segment(a, 0u, params.segments - 1u);
    let end0 = segment_end(s0);
    var first = count;
    if end0 - a < count {
        first = end0 - a + 1u;
    }
    var n = count;
    var cut_block = NONE;
    if params.one_cut == 0u {
        n = first;
    } else if first < count {
        cut_block = first / BLOCK;
    }
    let run = run_sums(a, n, cut_block);
    // v0: the run's part in segment s0; v1: the rest, in segment s0 + 1 (one_cut only).
    var v0 = run.total;
    var v1 = vec4<u32>(0u);
    if cut_block != NONE {
        let fix = first % BLOCK;
        v0 = add128(run.before, run_sums(a + first - fix, fix, NONE).total);
        v1 = sub128(run.total, v0);
    }

    // Every invocation finds the workgroup's first and last segment itself (the same answer from
    // read-only data): sharing it through workgroup memory would need a barrier.
    let first_seg = find_segment(wg_start, 0u, params.segments - 1u);
    let seg = vec2<u32>(first_seg, find_segment(wg_last, first_seg, params.segments - 1u));

    if seg.x == seg.y {
        // One segment covers the whole workgroup: a tree sum.
        let total = reduce_tree(lid, v0);
        if lid == 0u {
            if starts[seg.x] < wg_start {
                edges[2u * g] = total;
            } else if segment_end(seg.x) > wg_last {
                edges[2u * g + 1u] = total;
            } else {
                sums[seg.x] = total;
            }
        }
        return;
    }

    var key_l = NONE;
    var val_l = vec4<u32>(0u);
    var key_r = NONE;
    var val_r = vec4<u32>(0u);
    if busy {
        let b = a + count - 1u;
        var s = s0;
        var end = end0;
        var v = v0;
        loop {
            let stop = min(end, b);
            if starts[s] < a {
                key_l = s;
                val_l = v;
            } else if end > b {
                key_r = s;
                val_r = v;
            } else {
                sums[s] = v;
            }
            if stop == b {
                break;
            }
            s += 1u;
            end = segment_end(s);
            if params.one_cut == 1u {
                v = v1;
            } else {
                v = sum_offsets(stop + 1u, min(end, b));
            }
        }
        // A zero part keyed like L keeps a segment's run of parts unbroken when this run lies
        // inside it.
        if key_r == NONE && key_l != NONE {
            key_r = key_l;
        }
    }
    let i0 = 2u * lid;
    let i1 = i0 + 1u;
    keys[i0] = key_l;
    vals[i0] = val_l;
    keys[i1] = key_r;
    vals[i1] = val_r;
    workgroupBarrier();
    // Segmented inclusive scan (Hillis–Steele): equal keys are contiguous, so comparing the two
    // ends of a stride tells whether it stays inside one segment.
    for (var stride = 1u; stride < PARTS; stride *= 2u) {
        var n0 = vals[i0];
        var n1 = vals[i1];
        if i0 >= stride && keys[i0 - stride] == keys[i0] {
            n0 = add128(n0, vals[i0 - stride]);
        }
        if i1 >= stride && keys[i1 - stride] == keys[i1] {
            n1 = add128(n1, vals[i1 - stride]);
        }
        workgroupBarrier();
        vals[i0] = n0;
        vals[i1] = n1;
        workgroupBarrier();
    }
    // The last part of each key holds that segment's total over the workgroup.
    for (var j = 0u; j < 2u; j++) {
        let i = i0 + j;
        let key = keys[i];
        if key != NONE && (i + 1u == PARTS || keys[i + 1u] != key) {
            let total = vals[i];
            if key == seg.x && starts[key] < wg_start {
                edges[2u * g] = total;
            } else if key == seg.y && segment_end(key) > wg_last {
                edges[2u * g + 1u] = total;
            } else {
                sums[key] = total;
            }
        }
    }
}

// Second dispatch, one workgroup per crossing: adds the segment's parts from its workgroups.
@compute @workgroup_size(256)
fn reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = wid.x + wid.y * params.groups_per_row;
    if i >= params.crossings {
        return;
    }
    let c = crossings[i];
    var acc = vec4<u32>(0u);
    if lid == 0u {
        acc = edges[2u * c.y + 1u];
    }
    for (var g = c.y + 1u + lid; g <= c.z; g += WG) {
        acc = add128(acc, edges[2u * g]);
    }
    let total = reduce_tree(lid, acc);
    if lid == 0u {
        sums[c.x] = total;
    }
}
