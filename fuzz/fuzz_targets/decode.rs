//! The sparse container decoder: arbitrary bytes must decode or fail with an
//! error, never panic or allocate without bound; with the CRCs off the
//! parsers behind them see the damage; and any bytes encode and decode back
//! to themselves (the encoder walks them as a GraphDef when it can).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tf_strip::codec::{self, DecodeOptions, EncodeOptions};

fuzz_target!(|data: &[u8]| {
    let checked = DecodeOptions {
        max_output: 1 << 24,
        verify: true,
    };
    if let Ok(out) = codec::decode_with(data, &checked) {
        // A container that passes its CRCs re-encodes to one that decodes the same.
        let (again, _) = codec::encode(&out, &EncodeOptions::default());
        assert_eq!(codec::decode(&again).unwrap(), out);
    }
    let unchecked = DecodeOptions {
        max_output: 1 << 24,
        verify: false,
    };
    let _ = codec::decode_with(data, &unchecked);
    let _ = codec::describe(data);

    if data.len() <= 1 << 16 {
        let small = EncodeOptions {
            chunk_elements: 61,
            min_tensor_bytes: 4,
            level: 1,
            ..Default::default()
        };
        let (enc, _) = codec::encode(data, &small);
        assert_eq!(codec::decode(&enc).unwrap(), data);
        let _ = tf_strip::transform::loadable::encode(data, &Default::default());
    }
});
