// Variant "native-u64": for devices with 64-bit shader integers (wgpu's SHADER_INT64).
//
// Adds the n values v = hi·2^32 + lo_start, v + 1, … as one u64 counter whose low and high halves
// are added into two u64 sums. Neither sum can overflow (at most 2^32 values of < 2^32 each), and a
// masked or shifted counter has no closed form a compiler could substitute. On 32-bit hardware the
// mask and the shift are free: they only pick one register of the pair.
fn sum_run(lo_start: u32, hi: u32, n: u32) -> vec4<u32> {
    var v = (u64(hi) << 32u) | u64(lo_start);
    var s_lo = 0lu;
    var s_hi = 0lu;
    let quads = n / 4u;
    for (var i = 0u; i < quads; i++) {
        s_lo += v & 0xFFFFFFFFlu;
        s_hi += v >> 32u;
        v += 1lu;
        s_lo += v & 0xFFFFFFFFlu;
        s_hi += v >> 32u;
        v += 1lu;
        s_lo += v & 0xFFFFFFFFlu;
        s_hi += v >> 32u;
        v += 1lu;
        s_lo += v & 0xFFFFFFFFlu;
        s_hi += v >> 32u;
        v += 1lu;
    }
    for (var i = quads * 4u; i < n; i++) {
        s_lo += v & 0xFFFFFFFFlu;
        s_hi += v >> 32u;
        v += 1lu;
    }
    return combine(
        vec2<u32>(u32(s_lo), u32(s_lo >> 32u)),
        vec2<u32>(u32(s_hi), u32(s_hi >> 32u)),
    );
}
