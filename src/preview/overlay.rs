//! Text on the window's pixels: lines of 8×8 glyphs (`font8x8`, ASCII) on a dark band.

use font8x8::legacy::BASIC_LEGACY;

/// Pixels per glyph pixel.
const SCALE: usize = 2;
const GLYPH: usize = 8 * SCALE;
const MARGIN: usize = 4;
const TEXT: u32 = 0x00ff_ffff;

/// Draws `lines` in the top-left corner of `buffer` (`width × height`, 0RGB), each on a darkened
/// band; characters outside ASCII are drawn as `?`, and what does not fit is cut off.
pub fn draw(buffer: &mut [u32], width: usize, height: usize, lines: &[String]) {
    for (row, line) in lines.iter().enumerate() {
        let top = MARGIN + row * (GLYPH + 2);
        if top + GLYPH > height {
            break;
        }
        let chars = line.chars().count();
        let right = (MARGIN + chars * GLYPH + MARGIN).min(width);
        for y in top.saturating_sub(1)..(top + GLYPH + 1).min(height) {
            for px in &mut buffer[y * width..y * width + right] {
                *px = (*px >> 2) & 0x003f_3f3f; // a quarter of the brightness
            }
        }
        for (i, c) in line.chars().enumerate() {
            let left = MARGIN + i * GLYPH;
            if left + GLYPH > width {
                break;
            }
            let glyph = BASIC_LEGACY[if c.is_ascii() {
                c as usize
            } else {
                '?' as usize
            }];
            for (gy, bits) in glyph.iter().enumerate() {
                for gx in 0..8 {
                    if bits & (1 << gx) == 0 {
                        continue;
                    }
                    for dy in 0..SCALE {
                        let y = top + gy * SCALE + dy;
                        let x = left + gx * SCALE;
                        buffer[y * width + x..y * width + x + SCALE].fill(TEXT);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lights_pixels_and_darkens_its_band_within_bounds() {
        let (w, h) = (100, 40);
        let mut buffer = vec![0x0080_8080; w * h];
        draw(
            &mut buffer,
            w,
            h,
            &[
                "Hi é, a line far too long to fit".into(),
                "2".into(),
                "x".into(),
            ],
        );
        assert!(buffer.contains(&TEXT));
        assert!(buffer.contains(&0x0020_2020));
        // Below the two lines that fit, nothing changed.
        assert!(buffer[39 * w..].iter().all(|&p| p == 0x0080_8080));
    }
}
