// Variant "u32-pairs": u32 arithmetic only, for every device.
//
// Adds the n values hi·2^32 + lo_start, hi·2^32 + lo_start + 1, … (the low half does not wrap
// within them): each value's low half into a u32 whose carries are counted, its high half likewise.
// The counted carries are what a compiler cannot turn into a formula.
fn sum_run(lo_start: u32, hi: u32, n: u32) -> vec4<u32> {
    var s0 = 0u;
    var c0 = 0u;
    var s1 = 0u;
    var c1 = 0u;
    var lo = lo_start;
    // Four values per trip: fewer loop tests per add.
    let quads = n / 4u;
    for (var i = 0u; i < quads; i++) {
        s0 += lo;
        c0 += carry(s0, lo);
        s1 += hi;
        c1 += carry(s1, hi);
        let l1 = lo + 1u;
        s0 += l1;
        c0 += carry(s0, l1);
        s1 += hi;
        c1 += carry(s1, hi);
        let l2 = lo + 2u;
        s0 += l2;
        c0 += carry(s0, l2);
        s1 += hi;
        c1 += carry(s1, hi);
        let l3 = lo + 3u;
        s0 += l3;
        c0 += carry(s0, l3);
        s1 += hi;
        c1 += carry(s1, hi);
        lo += 4u;
    }
    for (var i = quads * 4u; i < n; i++) {
        s0 += lo;
        c0 += carry(s0, lo);
        s1 += hi;
        c1 += carry(s1, hi);
        lo += 1u;
    }
    return combine(vec2<u32>(s0, c0), vec2<u32>(s1, c1));
}
