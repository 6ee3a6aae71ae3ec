// Exact sum of u64 ranges on the GPU: the part shared by both kernel variants.
//
// A batch is a list of segments (pieces of chunks, at most 2^31 elements each). Every segment gets
// whole workgroups; every invocation adds `per_invocation` consecutive values one by one into exact
// accumulators (`sum_run`, defined by the variant appended to this file), the workgroup reduces its
// 256 partials in workgroup memory, and writes one 128-bit partial (four u32 limbs, little-endian)
// per workgroup. A second dispatch (`reduce`) adds each segment's workgroup partials, so the host
// reads back 16 bytes per segment and adds those in u128. No 64-bit atomics and no waiting between
// workgroups.

const WG: u32 = 256u;

struct Params {
    total_groups: u32,
    segments: u32,
    per_invocation: u32,
    groups_per_row: u32,
}

struct Segment {
    first_lo: u32,
    first_hi: u32,
    len: u32,
    group_base: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> segments: array<Segment>;
@group(0) @binding(2) var<storage, read_write> partials: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> segment_sums: array<vec4<u32>>;

var<workgroup> scratch: array<vec4<u32>, WG>;

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

// lo_sum + hi_sum·2^32 as 128-bit limbs, each sum given as (low word, high word) of a 64-bit value.
fn combine(lo_sum: vec2<u32>, hi_sum: vec2<u32>) -> vec4<u32> {
    let mid = lo_sum.y + hi_sum.x;
    return vec4<u32>(lo_sum.x, mid, hi_sum.y + carry(mid, lo_sum.y), 0u);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let g = wid.x + wid.y * params.groups_per_row;
    if g >= params.total_groups {
        return;
    }

    // The segment this workgroup belongs to: the last one whose group_base <= g.
    var lo_i = 0u;
    var hi_i = params.segments - 1u;
    while lo_i < hi_i {
        let mid = (lo_i + hi_i + 1u) / 2u;
        if segments[mid].group_base <= g {
            lo_i = mid;
        } else {
            hi_i = mid - 1u;
        }
    }
    let seg = segments[lo_i];

    // Segments hold at most 2^31 elements, so offsets fit a u32.
    let k = params.per_invocation;
    let offset = (g - seg.group_base) * WG * k + lid * k;
    var count = 0u;
    if offset < seg.len {
        count = min(k, seg.len - offset);
    }
    let lo = seg.first_lo + offset;
    let hi = seg.first_hi + carry(lo, offset);

    // Values up to the wrap of the low half, then the rest with the high half one larger.
    var before_wrap = count;
    if lo != 0u {
        before_wrap = min(count, 0u - lo);
    }
    var acc = sum_run(lo, hi, before_wrap);
    if count > before_wrap {
        acc = add128(acc, sum_run(0u, hi + 1u, count - before_wrap));
    }

    let total = reduce_workgroup(lid, acc);
    if lid == 0u {
        partials[g] = total;
    }
}

// The sum of every invocation's `value` in this workgroup (all invocations must call it).
fn reduce_workgroup(lid: u32, value: vec4<u32>) -> vec4<u32> {
    scratch[lid] = value;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid < stride {
            scratch[lid] = add128(scratch[lid], scratch[lid + stride]);
        }
        workgroupBarrier();
    }
    return scratch[0];
}

// Second dispatch, one workgroup per segment: adds the segment's workgroup partials.
@compute @workgroup_size(256)
fn reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let s = wid.x;
    if s >= params.segments {
        return;
    }
    let seg = segments[s];
    let span = WG * params.per_invocation;
    // len <= 2^31 and span <= 2^20, so this cannot overflow.
    let groups = (seg.len + span - 1u) / span;
    var acc = vec4<u32>(0u);
    for (var i = lid; i < groups; i += WG) {
        acc = add128(acc, partials[seg.group_base + i]);
    }
    let total = reduce_workgroup(lid, acc);
    if lid == 0u {
        segment_sums[s] = total;
    }
}
