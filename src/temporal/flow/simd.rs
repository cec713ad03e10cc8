//! Wider vectors where the processor has them: the flow's per-row loops are plain element-wise
//! arithmetic that the compiler vectorizes, four lanes wide for the x86_64 baseline (SSE2) and
//! eight with AVX. The same operations in the same order, so the results are identical; no FMA
//! (a fused multiply-add rounds once and would change them).

/// Defines a function whose body is compiled twice, for the baseline and for AVX, and that runs
/// the AVX copy where the processor has it (checked at the call, cached by the standard library).
/// Parameters are plain names (destructure in the body).
macro_rules! vectorized {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn baseline($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx")]
                #[allow(clippy::too_many_arguments)]
                fn avx($($arg: $ty),*) {
                    baseline($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx") {
                    // SAFETY: the processor has AVX, checked just above.
                    return unsafe { avx($($arg),*) };
                }
            }
            baseline($($arg),*)
        }
    };
}

pub(super) use vectorized;

/// The first `n` values of each of `slices`, for the row kernels: a plain loop, which the compiler
/// always inlines, where `array::map` sometimes became an out-of-line call costing as much as a
/// short row's arithmetic.
#[inline(always)]
pub(super) fn heads<const N: usize>(mut slices: [&[f32]; N], n: usize) -> [&[f32]; N] {
    for s in &mut slices {
        *s = &s[..n];
    }
    slices
}
