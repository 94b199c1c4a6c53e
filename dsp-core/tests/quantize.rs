//! `ddsp quantize` (`model::onnx::quantize`) and the ONNX importer's `DequantizeLinear` weights:
//! the int8 file plays exactly as `Precision::Int8` does on the f32 file; every other valid way of
//! writing quantised weights reads as the real values it stands for (each load is checked against
//! tract running the same file); malformed quantisation is a typed error naming the tensor.

use ddsp_core::model::kernels::has_avx2_fma;
use ddsp_core::model::onnx::quantize;
use ddsp_core::model::precision::WeightStorage;
use ddsp_core::model::{Model, ModelError, ModelSource, Precision, RunMode, BUILT_IN_MODELS};
use prost::Message;
use tract_onnx::pb;

fn load(bytes: &[u8]) -> Result<Model, ModelError> {
    Model::from_bytes(bytes, ModelSource::Embedded("quantize test")).map(|m| m.with_run_mode(RunMode::Offline))
}

/// 200 frames of controls from a zeroed state: pitch across the range, loudness up and down.
fn controls(model: &Model) -> Vec<f32> {
    let mut state = model.new_state();
    let m = &model.meta;
    let mut all = Vec::new();
    for i in 0..200 {
        let t = i as f32 / 199.0;
        let f0 = m.f0_min_hz * (m.f0_max_hz / m.f0_min_hz).powf(t);
        let loudness = m.loudness_min_db + (m.loudness_max_db - m.loudness_min_db) * (1.0 - (2.0 * t - 1.0).abs());
        let c = model.infer(f0, loudness, &mut state);
        all.push(c.amplitude);
        all.extend(&c.harmonic_distribution);
        all.extend(&c.noise_magnitudes);
    }
    all
}

#[test]
fn quantised_files_play_exactly_as_int8_precision_does_on_the_f32_file() {
    for built_in in &BUILT_IN_MODELS {
        let quantized = quantize(built_in.onnx).unwrap();
        let (before, after) = quantized.weight_bytes;
        println!(
            "{}: {} matrices, weights {before} → {after} bytes, file {} → {} bytes, probe deviation {:.3} dB",
            built_in.name,
            quantized.matrices,
            built_in.onnx.len(),
            quantized.bytes.len(),
            quantized.deviation_db
        );
        assert_eq!(quantized.matrices, 7);
        assert!(after * 3 < before && quantized.bytes.len() * 3 < built_in.onnx.len());
        // int8's rounding on the probe: 0.09-0.30 dB measured on the shipped models.
        assert!(quantized.deviation_db > 0.0 && quantized.deviation_db < 0.35, "{}", quantized.deviation_db);

        let f32_model = load(built_in.onnx).unwrap();
        let int8_file = load(&quantized.bytes).unwrap();
        let as_f32 = int8_file.clone().with_precision(Precision::F32);
        assert_eq!(as_f32.weight_storage(), WeightStorage::F32);
        if has_avx2_fma() {
            assert_eq!(int8_file.weight_storage().to_string(), "int8 as quantised in the file (7 of 7 matrices)");
            for precision in [Precision::Auto, Precision::Int8] {
                let kept = int8_file.clone().with_precision(precision).weight_storage();
                assert_eq!(kept.to_string(), int8_file.weight_storage().to_string());
            }
            let int8_precision = f32_model.clone().with_precision(Precision::Int8);
            assert!(controls(&int8_file) == controls(&int8_precision), "{}", built_in.name);
        }
        // The file's values, played in f32, differ from the original by the weights' rounding only.
        let (a, b) = (controls(&f32_model), controls(&as_f32));
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs() / x.abs().max(1e-3)).fold(0.0f32, f32::max);
        assert!(worst > 0.0 && worst < 0.1, "{}: {worst}", built_in.name);

        match quantize(&quantized.bytes) {
            Err(ModelError::Unsupported(why)) => assert!(why.contains("already quantised"), "{why}"),
            other => panic!("quantised twice: {other:?}"),
        }
    }
}

/// The default model's int8 file as a protobuf, to rewrite.
fn quantised_proto() -> pb::ModelProto {
    let bytes = quantize(BUILT_IN_MODELS[0].onnx).unwrap().bytes;
    pb::ModelProto::decode(bytes.as_slice()).unwrap()
}

fn tensor<'a>(proto: &'a mut pb::ModelProto, name: &str) -> &'a mut pb::TensorProto {
    proto.graph.as_mut().unwrap().initializer.iter_mut().find(|t| t.name == name).unwrap()
}

fn node<'a>(proto: &'a mut pb::ModelProto, output: &str) -> &'a mut pb::NodeProto {
    proto
        .graph
        .as_mut()
        .unwrap()
        .node
        .iter_mut()
        .find(|n| n.output.first().map(String::as_str) == Some(output))
        .unwrap()
}

fn f32s(t: &pb::TensorProto) -> Vec<f32> {
    t.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}

fn set_f32s(t: &mut pb::TensorProto, values: &[f32]) {
    t.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    t.dims = vec![values.len() as i64];
}

#[test]
fn other_valid_quantisations_read_as_the_values_they_stand_for() {
    let reference = load(&quantised_proto().encode_to_vec()).unwrap().with_precision(Precision::F32);
    // The weights' values, compared in f32 arithmetic (the int8 kernels also round the
    // activations, which is not what is tested here).
    let close = |model: &Model, what: &str| {
        let (a, b) = (controls(&reference), controls(&model.clone().with_precision(Precision::F32)));
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "{what}: {worst}");
    };

    // uint8 with zero point 128: the same values as the int8 file.
    let mut proto = quantised_proto();
    let q = tensor(&mut proto, "head.weight.quantized");
    q.data_type = pb::tensor_proto::DataType::Uint8 as i32;
    q.raw_data.iter_mut().for_each(|b| *b = (*b as i8 as i16 + 128) as u8);
    let zp = tensor(&mut proto, "head.weight.zero_point");
    zp.data_type = pb::tensor_proto::DataType::Uint8 as i32;
    zp.raw_data.iter_mut().for_each(|b| *b = 128);
    close(&load(&proto.encode_to_vec()).unwrap(), "uint8, zero point 128");

    // Each load below is also checked against tract running the rewritten file.
    // One scale for the whole tensor (kept int8).
    let mut proto = quantised_proto();
    let scales = f32s(tensor(&mut proto, "gru.R.scale"));
    let one = scales.iter().fold(0.0f32, |m, &s| m.max(s));
    set_f32s(tensor(&mut proto, "gru.R.scale"), &[one]);
    let zp = tensor(&mut proto, "gru.R.zero_point");
    (zp.dims, zp.raw_data) = (vec![], vec![0]);
    let per_tensor = load(&proto.encode_to_vec()).unwrap();
    if has_avx2_fma() {
        assert_eq!(per_tensor.weight_storage().to_string(), "int8 as quantised in the file (7 of 7 matrices)");
    }
    // Asymmetric (zero point 3): read as the values (q − 3) · scale.
    let mut proto = quantised_proto();
    tensor(&mut proto, "out_stack.1.dense.weight.zero_point").raw_data.iter_mut().for_each(|b| *b = 3);
    let asymmetric = load(&proto.encode_to_vec()).unwrap();
    if has_avx2_fma() {
        assert_eq!(asymmetric.weight_storage().to_string(), "int8 as quantised in the file (6 of 7 matrices)");
    }
    // Scales along the input axis (axis 0 of an [in, out] matrix).
    let mut proto = quantised_proto();
    let rows = tensor(&mut proto, "out_stack.1.dense.weight.quantized").dims[0] as usize;
    set_f32s(tensor(&mut proto, "out_stack.1.dense.weight.scale"), &vec![0.002; rows]);
    let zp = tensor(&mut proto, "out_stack.1.dense.weight.zero_point");
    (zp.dims, zp.raw_data) = (vec![rows as i64], vec![0; rows]);
    node(&mut proto, "out_stack.1.dense.weight").attribute[0].i = 0;
    load(&proto.encode_to_vec()).unwrap();
    // A negative axis counts from the end.
    let mut proto = quantised_proto();
    node(&mut proto, "head.weight").attribute[0].i = -1;
    close(&load(&proto.encode_to_vec()).unwrap(), "axis -1");
}

#[test]
fn malformed_quantisation_is_a_typed_error_naming_the_tensor() {
    type Break = fn(&mut pb::ModelProto);
    let cases: [(&str, Break, &str); 8] = [
        ("zero scale", |p| set_f32s(tensor(p, "gru.W.scale"), &[0.0; 576]), "zero"),
        ("NaN scale", |p| set_f32s(tensor(p, "gru.W.scale"), &[f32::NAN; 576]), "not finite"),
        ("negative scale", |p| set_f32s(tensor(p, "gru.W.scale"), &[-0.01; 576]), "negative"),
        (
            "scales that fit no axis",
            |p| {
                set_f32s(tensor(p, "gru.W.scale"), &[0.01; 100]);
                let zp = tensor(p, "gru.W.zero_point");
                (zp.dims, zp.raw_data) = (vec![100], vec![0; 100]);
            },
            "100 scales along axis 1",
        ),
        ("no scale", |p| node(p, "gru.W").input.truncate(1), "no scale"),
        (
            "int16 data",
            |p| {
                let t = tensor(p, "gru.W.quantized");
                t.data_type = pb::tensor_proto::DataType::Int16 as i32;
            },
            "int8, uint8 and int32",
        ),
        ("float data", |p| node(p, "gru.W").input[0] = "gru.W.scale".into(), "not an integer"),
        (
            "blocked",
            |p| {
                node(p, "gru.W").attribute.push(pb::AttributeProto {
                    name: "block_size".into(),
                    r#type: pb::attribute_proto::AttributeType::Int as i32,
                    i: 32,
                    ..Default::default()
                })
            },
            "blocked",
        ),
    ];
    for (what, break_it, expected) in cases {
        let mut proto = quantised_proto();
        break_it(&mut proto);
        match load(&proto.encode_to_vec()) {
            Err(e @ ModelError::Quantisation { .. }) => {
                let message = e.to_string();
                println!("{what}: {message}");
                assert!(message.contains("gru.W") && message.contains(expected), "{what}: {message}");
            }
            other => panic!("{what}: {:?}", other.map(|m| m.weight_storage())),
        }
    }
}
