//! Value parsers of the options: numbers in range, sizes, key=value pairs.

pub(super) fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("'{s}' is not KEY=VALUE")),
    }
}

pub(super) fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let parsed = s
        .split_once(['x', 'X'])
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)));
    match parsed {
        Some((w, h)) if (16..=16384).contains(&w) && (16..=16384).contains(&h) => Ok((w, h)),
        _ => Err(format!("'{s}' is not a size WxH (16 to 16384 each)")),
    }
}

pub(super) fn parse_finite(s: &str) -> Result<f32, String> {
    let v: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number"))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("'{s}' is not a finite number"))
    }
}

pub(super) fn positive(s: &str) -> Result<f32, String> {
    let v = parse_finite(s)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err(format!("{v} must be greater than 0"))
    }
}

/// `--style-scale`: a style image of ten times the optimizing size already costs a hundred times its
/// memory; more only exhausts it.
pub(super) fn style_scale(s: &str) -> Result<f32, String> {
    let v = positive(s)?;
    if v <= 10.0 {
        Ok(v)
    } else {
        Err(format!(
            "{v} is more than 10 (the style images' size relative to --size)"
        ))
    }
}

pub(super) fn non_negative(s: &str) -> Result<f32, String> {
    let v = parse_finite(s)?;
    if v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("{v} must not be negative"))
    }
}
