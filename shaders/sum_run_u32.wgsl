// Variant "u32-pairs": u32 arithmetic only, for every device.
//
// Adds the values first_hi·2^32 + first_lo + a, … (the low half does not wrap within a batch):
// each value's low half into a u32 whose carries are counted, its high half likewise. The counted
// carries are what a compiler cannot turn into a formula. acc = (low sum, its carries, high sum,
// its carries).
fn add_value(acc: ptr<function, vec4<u32>>, lo: u32, hi: u32) {
    var s = *acc;
    s.x += lo;
    s.y += carry(s.x, lo);
    s.z += hi;
    s.w += carry(s.z, hi);
    *acc = s;
}

fn add_quad(acc: ptr<function, vec4<u32>>, lo: u32, hi: u32) {
    for (var j = 0u; j < 4u; j++) {
        add_value(acc, lo + j, hi);
    }
}

fn run_sums(a: u32, n: u32, cut_block: u32) -> RunSums {
    let hi = params.first_hi;
    var lo = params.first_lo + a;
    var acc = vec4<u32>(0u);
    var kept = vec4<u32>(0u);
    // BLOCK values per trip: fewer loop tests, and one look at the cut per block.
    let blocks = n / BLOCK;
    for (var i = 0u; i < blocks; i++) {
        if i == cut_block {
            kept = acc;
        }
        add_quad(&acc, lo, hi);
        add_quad(&acc, lo + 4u, hi);
        add_quad(&acc, lo + 8u, hi);
        add_quad(&acc, lo + 12u, hi);
        lo += BLOCK;
    }
    if blocks == cut_block {
        kept = acc;
    }
    for (var i = blocks * BLOCK; i < n; i++) {
        add_value(&acc, lo, hi);
        lo += 1u;
    }
    return RunSums(combine(acc.xy, acc.zw), combine(kept.xy, kept.zw));
}
