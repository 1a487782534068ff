//! What `apply_mask` adds per weight (masks.rs): the variables, the masked
//! weight, who reads it, and the masking of the layer's gradient.

use super::*;
use crate::graph::Attrs;
use crate::tensor;

fn scalar_of(g: &Graph, name: &str) -> f32 {
    let t = tensor::from_proto(node(g, name).tensor_value().unwrap()).unwrap();
    t.f32s().unwrap()[0]
}

#[test]
fn a_weight_gets_a_mask_of_ones_a_zero_threshold_and_mask_times_weight_in_its_scope() {
    let mut nodes = inputs();
    nodes.extend(dense("dense"));
    let (g, report) = injected(nodes);
    let w = &report.weights[0];
    assert_eq!((w.mask.as_str(), w.threshold.as_str(), w.masked_weight.as_str()), ("dense/mask", "dense/threshold", "dense/weights/masked_weight"));
    assert_eq!(node(&g, "dense/mask").op, "VariableV2");
    assert_eq!(node(&g, "dense/mask").attr_value("shape"), node(&g, "dense/kernel").attr_value("shape"));
    // The initial values: Fill(shape, 1) and a scalar 0.
    let init = input(&g, "dense/mask/Assign", 1);
    assert_eq!(init.op, "Fill");
    assert_eq!(scalar_of(&g, &init.input[1]), 1.0);
    assert_eq!(scalar_of(&g, &node(&g, "dense/threshold/Assign").input[1]), 0.0);
    let mw = node(&g, "dense/weights/masked_weight");
    assert_eq!((mw.op.as_str(), mw.input.as_slice()), ("Mul", ["dense/mask/read", "dense/kernel/read"].map(String::from).as_slice()));
}

#[test]
fn weights_sharing_a_scope_get_masks_scoped_by_their_own_names() {
    let mut nodes = inputs();
    nodes.extend(variable("fc/w1", &[2, 3]));
    nodes.extend(variable("fc/w2", &[3, 3]));
    nodes.push(op("fc/MatMul", "MatMul", &["x", "fc/w1/read"]));
    nodes.push(op("fc/MatMul_1", "MatMul", &["fc/MatMul", "fc/w2/read"]));
    let (_, report) = injected(nodes);
    let masks: Vec<&str> = report.weights.iter().map(|w| w.mask.as_str()).collect();
    assert_eq!(masks, ["fc/w1/mask", "fc/w2/mask"]);
}

/// A convolution whose kernel has every kind of reader: the layer, its
/// gradient op (not a layer op itself, as a MatMul's would be), weight decay
/// and its gradient, a summary, a moving average.
fn conv_with_readers(gradients: &str) -> Vec<NodeDef> {
    let mut nodes = inputs();
    nodes.extend(conv("conv"));
    nodes.push(placeholder("grad"));
    nodes.push(placeholder("sizes"));
    nodes.push(op(&format!("{gradients}/conv/Conv2D_grad/Conv2DBackpropInput"), "Conv2DBackpropInput", &["sizes", "conv/kernel/read", "grad"]));
    nodes.push(op("L2Loss", "L2Loss", &["conv/kernel/read"]));
    nodes.push(op(&format!("{gradients}/L2Loss_grad/mul"), "Mul", &["conv/kernel/read", "grad"]));
    nodes.push(op("conv/kernel_0", "HistogramSummary", &["conv/kernel/read"]));
    nodes.push(op("ema/conv/kernel/sub", "Sub", &["ema/conv/kernel/read", "conv/kernel/read"]));
    nodes.push(placeholder("ema/conv/kernel/read"));
    nodes
}

#[test]
fn only_the_layer_and_its_gradient_ops_read_the_masked_weight_decay_summaries_and_averages_read_w() {
    let (g, report) = injected(conv_with_readers("gradients"));
    let mw = report.weights[0].masked_weight.as_str();
    assert_eq!(report.weights[0].rewired, ["conv/Conv2D", "gradients/conv/Conv2D_grad/Conv2DBackpropInput"]);
    assert_eq!(node(&g, "conv/Conv2D").input, ["x", mw]);
    assert_eq!(node(&g, "gradients/conv/Conv2D_grad/Conv2DBackpropInput").input, ["sizes", mw, "grad"]);
    for reader in ["L2Loss", "gradients/L2Loss_grad/mul", "conv/kernel_0", "ema/conv/kernel/sub"] {
        assert!(node(&g, reader).input.iter().any(|i| i == "conv/kernel/read"), "{reader} reads W");
        assert!(!node(&g, reader).input.iter().any(|i| i == mw), "{reader}");
    }
}

#[test]
fn the_saver_keeps_saving_w_and_saves_the_mask_and_threshold_too() {
    let mut nodes = inputs();
    nodes.extend(conv("conv"));
    let mut model = training_model(nodes, &["conv/kernel"], &["conv/kernel"]);
    inject(&mut model, &InjectOptions::default()).unwrap();
    let save = node(&model.graph, "save/SaveV2");
    assert_eq!(save.input[3], "conv/kernel");
    assert!(["conv/mask", "conv/threshold"].iter().all(|v| save.input.iter().any(|i| i == v)), "{:?}", save.input);
}

#[test]
fn gradient_ops_are_those_under_a_gradients_or_gradients_n_scope_at_any_depth() {
    for gradients in ["gradients_1", "tower_0/gradients"] {
        let (_, report) = injected(conv_with_readers(gradients));
        assert_eq!(report.weights[0].rewired, ["conv/Conv2D".to_string(), format!("{gradients}/conv/Conv2D_grad/Conv2DBackpropInput")]);
    }
    for other in ["gradientsX", "my_gradients", "gradients_"] {
        let (_, report) = injected(conv_with_readers(other));
        assert_eq!(report.weights[0].rewired, ["conv/Conv2D"], "{other}");
    }
}

/// `conv_with_readers` with SGD on the clipped sum of the layer's and the
/// weight decay's gradients for the kernel.
fn trained() -> Vec<NodeDef> {
    let mut nodes = conv_with_readers("gradients");
    nodes.push(op("gradients/conv/Conv2D_grad/Conv2DBackpropFilter", "Conv2DBackpropFilter", &["x", "sizes", "grad"]));
    nodes.push(op("gradients/AddN", "AddN", &["gradients/conv/Conv2D_grad/Conv2DBackpropFilter", "gradients/L2Loss_grad/mul"]));
    nodes.push(op("clip", "ClipByValue", &["gradients/AddN", "lr", "lr"]));
    nodes.push(placeholder("lr"));
    nodes.push(op("SGD/update_conv/kernel/ApplyGradientDescent", "ApplyGradientDescent", &["conv/kernel", "lr", "clip"]));
    nodes
}

#[test]
fn the_layers_gradient_is_masked_where_it_leaves_the_layers_gradient_ops_before_the_sum() {
    let (g, report) = injected(trained());
    let product = "gradients/conv/weights/masked_weight_grad/Mul";
    let mul = node(&g, product);
    assert_eq!((mul.op.as_str(), mul.input.as_slice()), ("Mul", ["gradients/conv/Conv2D_grad/Conv2DBackpropFilter", "conv/mask/read"].map(String::from).as_slice()));
    // The weight decay's gradient joins unmasked; what follows the sum is unchanged.
    assert_eq!(node(&g, "gradients/AddN").input, [product, "gradients/L2Loss_grad/mul"]);
    assert_eq!(node(&g, "SGD/update_conv/kernel/ApplyGradientDescent").input, ["conv/kernel", "lr", "clip"]);
    assert_eq!(report.weights[0].masked_gradients, ["SGD/update_conv/kernel/ApplyGradientDescent"]);
    assert!(report.weights[0].unmasked_updates.is_empty());
}

#[test]
fn an_update_fed_straight_by_the_layers_gradient_applies_the_masked_one() {
    let mut nodes = conv_with_readers("gradients");
    nodes.push(op("gradients/conv/Conv2D_grad/Conv2DBackpropFilter", "Conv2DBackpropFilter", &["x", "sizes", "grad"]));
    nodes.push(placeholder("lr"));
    nodes.push(op("update", "ApplyGradientDescent", &["conv/kernel", "lr", "gradients/conv/Conv2D_grad/Conv2DBackpropFilter"]));
    let (g, _) = injected(nodes);
    assert_eq!(node(&g, "update").input, ["conv/kernel", "lr", "gradients/conv/weights/masked_weight_grad/Mul"]);
}

#[test]
fn an_update_with_no_gradient_of_the_layer_is_reported_and_left_alone() {
    let mut nodes = inputs();
    nodes.extend(conv("conv"));
    nodes.push(placeholder("lr"));
    nodes.push(placeholder("delta"));
    nodes.push(op("update", "ApplyGradientDescent", &["conv/kernel", "lr", "delta"]));
    let (g, report) = injected(nodes);
    assert_eq!(report.weights[0].unmasked_updates, ["update"]);
    assert!(report.weights[0].masked_gradients.is_empty());
    assert_eq!(node(&g, "update").input, ["conv/kernel", "lr", "delta"]);
}
