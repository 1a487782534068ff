//! contrib.model_pruning's `get_pruning_hparams()`: its keys and defaults, the
//! `tf.HParams.parse` syntax and error wording, and `Pruning._validate_spec`.

use std::fmt;

use regex::Regex;

#[derive(Debug, Clone, PartialEq)]
pub struct PruningHparams {
    pub name: String,
    pub begin_pruning_step: i64,
    pub end_pruning_step: i64,
    pub weight_sparsity_map: Vec<String>,
    pub block_dims_map: Vec<String>,
    pub threshold_decay: f64,
    pub pruning_frequency: i64,
    pub nbins: i64,
    pub block_height: i64,
    pub block_width: i64,
    pub block_pooling_function: String,
    pub initial_sparsity: f64,
    pub target_sparsity: f64,
    pub sparsity_function_begin_step: i64,
    pub sparsity_function_end_step: i64,
    pub sparsity_function_exponent: f64,
    pub use_tpu: bool,
}

impl Default for PruningHparams {
    fn default() -> Self {
        PruningHparams {
            name: "model_pruning".into(),
            begin_pruning_step: 0,
            end_pruning_step: -1,
            weight_sparsity_map: vec![String::new()],
            block_dims_map: vec![String::new()],
            threshold_decay: 0.0,
            pruning_frequency: 10,
            nbins: 256,
            block_height: 1,
            block_width: 1,
            block_pooling_function: "AVG".into(),
            initial_sparsity: 0.0,
            target_sparsity: 0.5,
            sparsity_function_begin_step: 0,
            sparsity_function_end_step: 100,
            sparsity_function_exponent: 3.0,
            use_tpu: false,
        }
    }
}

/// A hyperparameter error, worded as TensorFlow words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HparamsError(pub String);

impl fmt::Display for HparamsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Int,
    Float,
    Bool,
    Str,
}

impl Kind {
    fn python_name(self) -> &'static str {
        match self {
            Kind::Int => "int",
            Kind::Float => "float",
            Kind::Bool => "bool",
            Kind::Str => "str",
        }
    }
}

/// Key, element type, and whether it is a list.
const KEYS: [(&str, Kind, bool); 17] = [
    ("name", Kind::Str, false),
    ("begin_pruning_step", Kind::Int, false),
    ("end_pruning_step", Kind::Int, false),
    ("weight_sparsity_map", Kind::Str, true),
    ("block_dims_map", Kind::Str, true),
    ("threshold_decay", Kind::Float, false),
    ("pruning_frequency", Kind::Int, false),
    ("nbins", Kind::Int, false),
    ("block_height", Kind::Int, false),
    ("block_width", Kind::Int, false),
    ("block_pooling_function", Kind::Str, false),
    ("initial_sparsity", Kind::Float, false),
    ("target_sparsity", Kind::Float, false),
    ("sparsity_function_begin_step", Kind::Int, false),
    ("sparsity_function_end_step", Kind::Int, false),
    ("sparsity_function_exponent", Kind::Float, false),
    ("use_tpu", Kind::Bool, false),
];

enum Parsed {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
}

impl PruningHparams {
    /// Parses `name=value,...` over the defaults, then validates like `Pruning`.
    pub fn parse(values: &str) -> Result<Self, HparamsError> {
        // tf.HParams' PARAM_RE: a name, an optional `[index]`, `=`, then a
        // scalar without `,` or `[`, or a bracketed list.
        let param = Regex::new(
            r"^(?P<name>[a-zA-Z][\w.]*)(\[\s*(?P<index>\d+)\s*\])?\s*=\s*((?P<val>[^,\[]*)|\[(?P<vals>[^\]]*)\])($|,\s*)",
        )
        .map_err(|e| HparamsError(e.to_string()))?;
        let fail = |name: &str, kind: Kind, value: &str| {
            HparamsError(format!(
                "Could not parse hparam '{name}' of type '{}' with value '{value}' in {values}",
                kind.python_name()
            ))
        };
        let mut hp = PruningHparams::default();
        let mut seen: Vec<String> = Vec::new();
        let mut pos = 0;
        while pos < values.len() {
            let rest = &values[pos..];
            let m = param
                .captures(rest)
                .ok_or_else(|| HparamsError(format!("Malformed hyperparameter value: {rest}")))?;
            pos += m.get(0).map_or(rest.len(), |g| g.end());
            let name = &m["name"];
            let Some(&(_, kind, is_list)) = KEYS.iter().find(|(k, _, _)| *k == name) else {
                return Err(HparamsError(format!(
                    "Unknown hyperparameter type for {name}"
                )));
            };
            if seen.iter().any(|s| s == name) {
                return Err(HparamsError(format!(
                    "Multiple assignments to variable '{name}' in {values}"
                )));
            }
            seen.push(name.to_string());
            if m.name("index").is_some() {
                return Err(HparamsError(format!(
                    "Must not pass an index for hparam '{name}' in {values}"
                )));
            }
            let parse_one = |v: &str| parse_scalar(kind, v).ok_or_else(|| fail(name, kind, v));
            match (m.name("vals"), is_list) {
                (Some(vals), true) => {
                    let items: Vec<String> = vals
                        .as_str()
                        .split([' ', ','])
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect();
                    hp.set_list(name, items);
                }
                (Some(_), false) => {
                    return Err(HparamsError(format!(
                        "Must not pass a list for single-valued parameter: {name}"
                    )))
                }
                (None, true) => {
                    return Err(HparamsError(format!(
                        "Must pass a list for multi-valued parameter: {name}."
                    )))
                }
                (None, false) => {
                    let value = m.name("val").map_or("", |v| v.as_str());
                    hp.set(name, parse_one(value)?);
                }
            }
        }
        hp.validate()?;
        Ok(hp)
    }

    fn set_list(&mut self, name: &str, items: Vec<String>) {
        match name {
            "weight_sparsity_map" => self.weight_sparsity_map = items,
            _ => self.block_dims_map = items,
        }
    }

    fn set(&mut self, name: &str, value: Parsed) {
        match (name, value) {
            ("name", Parsed::Str(v)) => self.name = v,
            ("block_pooling_function", Parsed::Str(v)) => self.block_pooling_function = v,
            ("use_tpu", Parsed::Bool(v)) => self.use_tpu = v,
            ("threshold_decay", Parsed::Float(v)) => self.threshold_decay = v,
            ("initial_sparsity", Parsed::Float(v)) => self.initial_sparsity = v,
            ("target_sparsity", Parsed::Float(v)) => self.target_sparsity = v,
            ("sparsity_function_exponent", Parsed::Float(v)) => self.sparsity_function_exponent = v,
            (key, Parsed::Int(v)) => {
                let field = match key {
                    "begin_pruning_step" => &mut self.begin_pruning_step,
                    "end_pruning_step" => &mut self.end_pruning_step,
                    "pruning_frequency" => &mut self.pruning_frequency,
                    "nbins" => &mut self.nbins,
                    "block_height" => &mut self.block_height,
                    "block_width" => &mut self.block_width,
                    "sparsity_function_begin_step" => &mut self.sparsity_function_begin_step,
                    _ => &mut self.sparsity_function_end_step,
                };
                *field = v;
            }
            _ => {}
        }
    }

    /// `Pruning._validate_spec`, word for word (its missing spaces included).
    pub fn validate(&self) -> Result<(), HparamsError> {
        let err = |s: String| Err(HparamsError(s));
        if self.begin_pruning_step < 0 {
            return err("Illegal value for begin_pruning_step".into());
        }
        if self.begin_pruning_step >= self.end_pruning_step && self.end_pruning_step != -1 {
            return err(format!(
                "Pruning must begin before it can end. begin_step={}, end_step={}.Set end_pruning_step to -1 \
                 if pruning is required till trainingstops",
                self.begin_pruning_step, self.end_pruning_step
            ));
        }
        if self.sparsity_function_begin_step < 0 {
            return err("Illegal value for sparsity_function_begin_step".into());
        }
        if self.sparsity_function_begin_step >= self.sparsity_function_end_step {
            return err("Sparsity function requires begin_step < end_step".into());
        }
        for (value, what) in [
            (self.threshold_decay, "threshold_decay"),
            (self.initial_sparsity, "initial_sparsity"),
            (self.target_sparsity, "target_sparsity"),
        ] {
            if !(0.0..1.0).contains(&value) {
                return err(format!("{what} must be in range [0,1)"));
            }
        }
        // Beyond `_validate_spec`: values TensorFlow would only reject when
        // the graph runs (or builds), with the words it would use then. (The
        // pooling function is checked where contrib checks it: when a weight
        // is block-pruned.)
        for (v, what) in [
            (self.block_height, "block_height"),
            (self.block_width, "block_width"),
        ] {
            if v == 0 || v < -1 {
                return err(format!(
                    "{what} must be positive or -1 (the whole dimension)"
                ));
            }
        }
        let scope = Regex::new(r"^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$")
            .map_err(|e| HparamsError(e.to_string()))?;
        if !scope.is_match(&self.name) {
            return err(format!("'{}' is not a valid scope name", self.name));
        }
        if !self.weight_sparsities()?.is_empty() && self.target_sparsity == 0.0 {
            return err("weight_sparsity_map scales the schedule by value/target_sparsity, so target_sparsity must not be 0".into());
        }
        self.block_dims()?;
        Ok(())
    }

    /// What contrib accepts silently but is likely a mistake: a regex given
    /// twice in a map (the last value applies), a pooling function other
    /// than AVG or MAX (looked at only when a weight is block-pruned, and then
    /// an error, so a graph injected without error has none).
    pub(super) fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (key, entries) in [
            ("weight_sparsity_map", &self.weight_sparsity_map),
            ("block_dims_map", &self.block_dims_map),
        ] {
            for p in repeated_patterns(entries) {
                out.push(format!(
                    "{key} gives `{p}` more than once; the last value applies, as in contrib"
                ));
            }
        }
        let known = ["AVG", "MAX"].contains(&self.block_pooling_function.as_str());
        if !known {
            out.push(format!(
                "block_pooling_function={} is neither AVG nor MAX; accepted because no weight is \
                 block-pruned (contrib checks it only then)",
                self.block_pooling_function
            ));
        }
        out
    }

    /// `weight_sparsity_map` as (regex, sparsity) pairs (`_get_weight_sparsity_map`).
    pub fn weight_sparsities(&self) -> Result<Vec<(Regex, f64)>, HparamsError> {
        map_entries(&self.weight_sparsity_map, |_, v| {
            let sparsity = python_float(v)?;
            if sparsity >= 1.0 {
                return Err(HparamsError("Weight sparsity can not exceed 1.0".into()));
            }
            Ok(sparsity)
        })
    }

    /// `block_dims_map` as (regex, [height, width]) pairs (`_get_block_dims_map`);
    /// -1 is the whole dimension.
    pub fn block_dims(&self) -> Result<Vec<(Regex, [i64; 2])>, HparamsError> {
        map_entries(&self.block_dims_map, |name, v| {
            let parts: Vec<&str> = v.split('x').collect();
            let [h, w] = parts[..] else {
                let listed: Vec<String> = parts.iter().map(|p| format!("'{p}'")).collect();
                return Err(HparamsError(format!(
                    "Expected 2 values for block dim for {name}, got [{}]",
                    listed.join(", ")
                )));
            };
            let dims = [python_int(h)?, python_int(w)?];
            if dims.iter().any(|&d| d == 0 || d < -1) {
                return Err(HparamsError(format!(
                    "block dims for {name} must be positive or -1 (the whole dimension)"
                )));
            }
            Ok(dims)
        })
    }
}

/// The value of the one entry of `map` whose regex is found in `weight`
/// (`re.search`), as contrib's `_get_sparsity` and `_get_block_dims` look up.
pub fn lookup<'a, T>(
    map: &'a [(Regex, T)],
    key: &str,
    weight: &str,
) -> Result<Option<&'a T>, HparamsError> {
    let mut found = map
        .iter()
        .filter(|(re, _)| re.is_match(weight))
        .map(|(_, v)| v);
    match (found.next(), found.next()) {
        (Some(_), Some(_)) => Err(HparamsError(format!(
            "Multiple matches in {key} for weight {weight}"
        ))),
        (one, _) => Ok(one),
    }
}

/// `name:value` entries; empty ones are skipped. contrib keys a dict by
/// `re.compile(name)`, which returns the cached object for a repeated
/// pattern: a regex given twice keeps its first place and its last value.
fn map_entries<T>(
    entries: &[String],
    value: impl Fn(&str, &str) -> Result<T, HparamsError>,
) -> Result<Vec<(Regex, T)>, HparamsError> {
    let mut out: Vec<(Regex, T)> = Vec::new();
    for entry in entries.iter().filter(|e| !e.is_empty()) {
        let fields: Vec<&str> = entry.split(':').collect();
        let [pattern, v] = fields[..] else {
            return Err(HparamsError(if fields.len() > 2 {
                "too many values to unpack (expected 2)".into()
            } else {
                "not enough values to unpack (expected 2, got 1)".into()
            }));
        };
        let v = value(pattern, v)?;
        match out.iter_mut().find(|(re, _)| re.as_str() == pattern) {
            Some((_, earlier)) => *earlier = v,
            None => out.push((
                Regex::new(pattern)
                    .map_err(|e| HparamsError(format!("bad regex '{pattern}': {e}")))?,
                v,
            )),
        }
    }
    Ok(out)
}

/// The patterns `entries` give more than once.
fn repeated_patterns(entries: &[String]) -> Vec<&str> {
    let patterns: Vec<&str> = entries
        .iter()
        .filter_map(|e| e.split(':').next())
        .filter(|p| !p.is_empty())
        .collect();
    let mut repeated: Vec<&str> = Vec::new();
    for (i, p) in patterns.iter().enumerate() {
        if patterns[..i].contains(p) && !repeated.contains(p) {
            repeated.push(p);
        }
    }
    repeated
}

fn python_float(v: &str) -> Result<f64, HparamsError> {
    v.trim()
        .parse()
        .map_err(|_| HparamsError(format!("could not convert string to float: '{v}'")))
}

fn python_int(v: &str) -> Result<i64, HparamsError> {
    v.trim()
        .parse()
        .map_err(|_| HparamsError(format!("invalid literal for int() with base 10: '{v}'")))
}

/// Python's `int()`, `float()` and HParams' bool parser.
fn parse_scalar(kind: Kind, value: &str) -> Option<Parsed> {
    let v = value.trim();
    match kind {
        Kind::Str => Some(Parsed::Str(value.to_string())),
        Kind::Int => v.replace('_', "").parse::<i64>().ok().map(Parsed::Int),
        Kind::Float => v.parse::<f64>().ok().map(Parsed::Float),
        Kind::Bool => match v {
            "true" | "True" => Some(Parsed::Bool(true)),
            "false" | "False" => Some(Parsed::Bool(false)),
            _ => v.parse::<i64>().ok().map(|i| Parsed::Bool(i != 0)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let hp = PruningHparams::parse("").unwrap();
        assert_eq!(hp, PruningHparams::default());
        let hp = PruningHparams::parse(
            "name=p,target_sparsity=0.9,use_tpu=True,weight_sparsity_map=[fc1:0.5,conv.*:0.7],block_height=-1",
        )
        .unwrap();
        assert_eq!(hp.name, "p");
        assert_eq!(hp.target_sparsity, 0.9);
        assert!(hp.use_tpu);
        assert_eq!(hp.weight_sparsity_map, vec!["fc1:0.5", "conv.*:0.7"]);
        assert_eq!(hp.block_height, -1);
    }

    #[test]
    fn maps_are_searched_and_ambiguity_is_an_error() {
        let hp = PruningHparams::parse("weight_sparsity_map=[fc:0.5,fc1/:0.7]").unwrap();
        let map = hp.weight_sparsities().unwrap();
        assert_eq!(
            lookup(&map, "weight_sparsity_map", "net/fc2/weights").unwrap(),
            Some(&0.5)
        );
        assert_eq!(
            lookup(&map, "weight_sparsity_map", "conv/weights").unwrap(),
            None
        );
        assert_eq!(
            lookup(&map, "weight_sparsity_map", "fc1/weights")
                .unwrap_err()
                .0,
            "Multiple matches in weight_sparsity_map for weight fc1/weights"
        );
    }

    #[test]
    fn what_contrib_accepts_is_accepted_with_a_warning() {
        let hp = PruningHparams::parse(
            "weight_sparsity_map=[fc3/weights:0.5,fc1:0.2,fc3/weights:0.7],block_pooling_function=MIN",
        )
        .unwrap();
        let map = hp.weight_sparsities().unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(map[0].0.as_str(), "fc3/weights");
        assert_eq!(
            lookup(&map, "weight_sparsity_map", "fc3/weights").unwrap(),
            Some(&0.7)
        );
        assert_eq!(
            hp.warnings(),
            [
                "weight_sparsity_map gives `fc3/weights` more than once; the last value applies, as in contrib",
                "block_pooling_function=MIN is neither AVG nor MAX; accepted because no weight is \
                 block-pruned (contrib checks it only then)",
            ]
        );
        assert!(PruningHparams::default().warnings().is_empty());
    }

    #[test]
    fn errors_are_worded_as_tensorflow_words_them() {
        let e = |s: &str| PruningHparams::parse(s).unwrap_err().0;
        assert_eq!(e("foo=1"), "Unknown hyperparameter type for foo");
        assert_eq!(
            e("pruning_frequency=x"),
            "Could not parse hparam 'pruning_frequency' of type 'int' with value 'x' in pruning_frequency=x"
        );
        assert_eq!(
            e("target_sparsity=1.0"),
            "target_sparsity must be in range [0,1)"
        );
        assert_eq!(
            e("begin_pruning_step=-1"),
            "Illegal value for begin_pruning_step"
        );
        assert!(e("begin_pruning_step=5,end_pruning_step=5")
            .starts_with("Pruning must begin before it can end."));
        assert_eq!(
            e("sparsity_function_begin_step=10,sparsity_function_end_step=10"),
            "Sparsity function requires begin_step < end_step"
        );
        assert_eq!(
            e("weight_sparsity_map=x:0.1"),
            "Must pass a list for multi-valued parameter: weight_sparsity_map."
        );
        assert_eq!(
            e("nbins=[1]"),
            "Must not pass a list for single-valued parameter: nbins"
        );
        assert_eq!(
            e("block_dims_map=[fc1:4by4]"),
            "Expected 2 values for block dim for fc1, got ['4by4']"
        );
        assert_eq!(
            e("weight_sparsity_map=[fc1:1.5]"),
            "Weight sparsity can not exceed 1.0"
        );
        assert_eq!(
            e("block_dims_map=[fc1:4xa]"),
            "invalid literal for int() with base 10: 'a'"
        );
        assert_eq!(e("name=a:b"), "'a:b' is not a valid scope name");
        assert!(PruningHparams::parse("name=outer/pruning,pruning_frequency=0").is_ok());
    }
}
