//! Plain-text tables for reports.

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

pub fn percent(f: Option<f64>) -> String {
    f.map_or_else(|| "-".into(), |f| format!("{:.1}%", f * 100.0))
}

/// The share of `part` in `whole`, `-` for nothing.
pub fn fraction(part: u64, whole: u64) -> String {
    percent((whole > 0).then(|| part as f64 / whole as f64))
}

pub fn shape(dims: &[u64]) -> String {
    format!("[{}]", dims.iter().map(u64::to_string).collect::<Vec<_>>().join(","))
}

/// Left-aligns the first column and right-aligns the rest.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if i == 0 {
                s.push_str(&format!("{cell:<w$}"));
            } else {
                s.push_str(&format!("  {cell:>w$}"));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(&mut header.iter().copied());
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

/// A report as pretty JSON on stdout, for scripts (`--json`).
pub fn print_json<T: serde::Serialize>(report: &T) {
    println!("{}", serde_json::to_string_pretty(report).unwrap_or_default());
}

/// A job's outcome as the commands show it: its warnings on stderr, then the
/// report as JSON on stdout (`--json`) or as text on stderr, so a script's
/// stdout holds nothing but the JSON.
pub fn show<T: serde::Serialize>(warnings: &[String], summary: &T, json: bool, text: impl FnOnce() -> String) {
    for w in warnings {
        eprintln!("tf-strip: warning: {w}");
    }
    if json {
        print_json(summary);
    } else {
        eprint!("{}", text());
    }
}

/// The closing line of a job that wrote a model: sizes, time, where.
pub fn written_line(bytes_in: u64, written: &tf_strip::jobs::Written, seconds: f64, what: &str) -> String {
    format!(
        "{} in, {} out; {seconds:.3} s\n{what} written to {}\n",
        human_bytes(bytes_in),
        human_bytes(written.bytes_out),
        written.output
    )
}

/// The tensors of a sparse container: what each holds and takes.
pub fn container_table(tensors: &[tf_strip::codec::TensorInfo]) -> String {
    let rows: Vec<Vec<String>> = tensors
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                t.dtype.clone(),
                t.elements.to_string(),
                fraction(t.zeros, t.elements),
                human_bytes(t.bytes),
                human_bytes(t.stored),
                human_bytes(t.bound as u64),
                t.coding.clone(),
            ]
        })
        .collect();
    table(
        &[
            "tensor", "dtype", "elements", "zeros", "raw", "stored", "bound", "coding",
        ],
        &rows,
    )
}

/// Signatures of a SavedModel or MetaGraphDef: one row per input and output.
pub fn signature_table(signatures: &[tf_strip::saved_model::SignatureReport]) -> String {
    let dims = |s: &Option<Vec<i64>>| match s {
        // As saved_model_cli prints a shape of unknown rank.
        None => "unknown_rank".to_string(),
        Some(d) => format!("[{}]", d.iter().map(|&x| if x < 0 { "?".into() } else { x.to_string() }).collect::<Vec<_>>().join(",")),
    };
    let rows: Vec<Vec<String>> = signatures
        .iter()
        .flat_map(|s| {
            s.inputs
                .iter()
                .map(|t| ("input", t))
                .chain(s.outputs.iter().map(|t| ("output", t)))
                .map(|(what, t)| {
                    vec![s.key.clone(), s.method_name.clone(), what.into(), t.key.clone(), t.name.clone(), t.dtype.clone(), dims(&t.shape)]
                })
                .collect::<Vec<_>>()
        })
        .collect();
    table(&["signature", "method", "side", "key", "tensor", "dtype", "shape"], &rows)
}

/// What `--tensor_lists` did (the arrays it kept are warned about).
pub fn render_tensor_lists(r: &tf_strip::transform::TensorListReport) -> String {
    match r.rewritten.as_slice() {
        [] => String::new(),
        names => format!("TensorArrays rewritten into TensorLists: {}\n", names.join(", ")),
    }
}
