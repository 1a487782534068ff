//! The carrier every job works on: a validated graph and, when it came from a
//! MetaGraphDef, what the MetaGraphDef says around it (collections, saver,
//! signatures). A bare GraphDef is a model with no MetaGraphDef.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::graph::{collection_nodes, variable_defs, write_message, Format, Graph, GraphError, ModelFile};
use crate::proto::tensorflow::{MetaGraphDef, VariableDef};

/// What kind of file a model was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ModelKind {
    GraphDef,
    MetaGraphDef,
    SavedModel,
}

pub struct Model {
    /// The file it was read from, for messages.
    pub path: PathBuf,
    pub kind: ModelKind,
    pub graph: Graph,
    /// The MetaGraphDef the graph came in, with its `graph_def` taken out
    /// (the graph lives in `graph`).
    pub meta: Option<MetaGraphDef>,
}

impl Model {
    /// A `.meta` MetaGraphDef, a GraphDef (`.pb`, `.pbtxt`) or a SavedModel
    /// (its first MetaGraphDef), checked as `Graph::new` checks graphs.
    pub fn load(path: &Path) -> Result<Self, GraphError> {
        let (path, file) = ModelFile::load(path)?;
        let (kind, def, meta) = match file {
            ModelFile::Graph(def) => (ModelKind::GraphDef, def, None),
            ModelFile::Meta(mut meta) => (ModelKind::MetaGraphDef, meta.graph_def.take().unwrap_or_default(), Some(meta)),
            ModelFile::SavedModel(mut saved) => {
                let mut meta = saved.meta_graphs.drain(..).next().unwrap_or_default();
                (ModelKind::SavedModel, meta.graph_def.take().unwrap_or_default(), Some(meta))
            }
        };
        let graph = Graph::new(def).map_err(|e| e.in_file(&path))?;
        Ok(Model { path, kind, graph, meta })
    }

    /// Writes the model as what it came as: a MetaGraphDef when it had one,
    /// else a GraphDef; only a graph TensorFlow's importer would take.
    pub fn write(self, path: &Path, format: Format) -> Result<(), GraphError> {
        Graph::validate(self.graph.def(), path)?;
        match self.meta {
            Some(meta) => write_message(path, &MetaGraphDef { graph_def: Some(self.graph.into_def()), ..meta }, format),
            None => write_message(path, self.graph.def(), format),
        }
    }

    /// The variables the MetaGraphDef lists (none for a bare GraphDef).
    pub fn variables(&self) -> Vec<VariableDef> {
        self.meta.as_ref().map(variable_defs).unwrap_or_default()
    }

    /// Node names of a `node_list` collection.
    pub fn collection(&self, key: &str) -> HashSet<String> {
        self.meta.as_ref().map(|m| collection_nodes(m, key).into_iter().collect()).unwrap_or_default()
    }
}
