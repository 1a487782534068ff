//! The `.index` table and every entry it holds, over a fixed data shard:
//! open, then read every tensor and every slice.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tf_strip::checkpoint::Checkpoint;

fuzz_target!(|index: &[u8]| {
    let shard = Bytes::from_static(&[0x5a; 4096]);
    let shards = vec![shard; 4];
    if let Ok(ckpt) = Checkpoint::from_memory("fuzz", index, shards) {
        let names: Vec<String> = ckpt.entries().map(|(n, _)| n.to_string()).collect();
        for name in names {
            let _ = ckpt.tensor(&name).map(|t| t.zero_fraction());
            let _ = ckpt.slices(&name);
        }
    }
});
