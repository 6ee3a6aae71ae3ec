// Variant "native-u64": for devices with 64-bit shader integers (wgpu's SHADER_INT64).
//
// Adds the values v = first + a, v + 1, … as one u64 counter whose low and high halves are added
// into two u64 sums. Neither sum can overflow (at most 2^32 values of < 2^32 each), and a masked or
// shifted counter has no closed form a compiler could substitute. On 32-bit hardware the mask and
// the shift are free: they only pick one register of the pair.
fn add_value(s_lo: ptr<function, u64>, s_hi: ptr<function, u64>, v: u64) {
    *s_lo += v & 0xFFFFFFFFlu;
    *s_hi += v >> 32u;
}

fn add_quad(s_lo: ptr<function, u64>, s_hi: ptr<function, u64>, v: u64) {
    for (var j = 0lu; j < 4lu; j++) {
        add_value(s_lo, s_hi, v + j);
    }
}

fn halves(x: u64) -> vec2<u32> {
    return vec2<u32>(u32(x), u32(x >> 32u));
}

fn run_sums(a: u32, n: u32, cut_block: u32) -> RunSums {
    var v = ((u64(params.first_hi) << 32u) | u64(params.first_lo)) + u64(a);
    var s_lo = 0lu;
    var s_hi = 0lu;
    var kept_lo = 0lu;
    var kept_hi = 0lu;
    // BLOCK values per trip: fewer loop tests, and one look at the cut per block.
    let blocks = n / BLOCK;
    for (var i = 0u; i < blocks; i++) {
        if i == cut_block {
            kept_lo = s_lo;
            kept_hi = s_hi;
        }
        add_quad(&s_lo, &s_hi, v);
        add_quad(&s_lo, &s_hi, v + 4lu);
        add_quad(&s_lo, &s_hi, v + 8lu);
        add_quad(&s_lo, &s_hi, v + 12lu);
        v += u64(BLOCK);
    }
    if blocks == cut_block {
        kept_lo = s_lo;
        kept_hi = s_hi;
    }
    for (var i = blocks * BLOCK; i < n; i++) {
        add_value(&s_lo, &s_hi, v);
        v += 1lu;
    }
    return RunSums(
        combine(halves(s_lo), halves(s_hi)),
        combine(halves(kept_lo), halves(kept_hi)),
    );
}
