// ddsp.hpp: a header-only C++ wrapper over the C ABI in ddsp.h (RAII, std::string, spans of floats).
//
//   ddsp::Pipeline pipeline(48000.0, 256);
//   if (!pipeline.loadModel("Violin.tflite")) std::cerr << pipeline.lastError() << "\n";
//   pipeline.setF0Hz(440.0f);
//   pipeline.setLoudnessNorm(0.8f);
//   pipeline.process(block, 256);   // in the audio callback
//
// The threading contract is the C header's: process* on one audio thread; set* from any thread;
// note and MIDI calls from one thread at a time; loadModel from any thread but the audio thread.
#ifndef DDSP_HPP
#define DDSP_HPP

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "ddsp.h"

namespace ddsp {

/// The library's model names (built-in models, then the model folders').
inline std::vector<std::string> modelNames() {
    std::string text(ddsp_model_names(nullptr, 0) + 1, '\0');
    ddsp_model_names(&text[0], text.size());
    text.resize(text.size() - 1);
    std::vector<std::string> names;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        names.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return names;
}

inline std::string version() { return ddsp_version(); }

/// How every later model load stores its weights (see ddsp_set_precision).
enum class Precision { Auto = DDSP_PRECISION_AUTO, F32 = DDSP_PRECISION_F32 };
inline void setPrecision(Precision precision) { ddsp_set_precision(static_cast<int>(precision)); }

/// Owns a DdspPipeline; movable, not copyable.
class Pipeline {
public:
    /// Throws std::invalid_argument on a sample rate outside 8 kHz..384 kHz or a block outside 1..65536.
    Pipeline(double sampleRate, std::uint32_t maxBlock, bool offline = false)
        : p_(ddsp_pipeline_new_with_flags(sampleRate, maxBlock, offline ? DDSP_OFFLINE : 0)) {
        if (!p_) throw std::invalid_argument("ddsp::Pipeline: sample rate or block size out of range");
    }
    ~Pipeline() { ddsp_pipeline_free(p_); }
    Pipeline(const Pipeline &) = delete;
    Pipeline &operator=(const Pipeline &) = delete;
    Pipeline(Pipeline &&other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
    Pipeline &operator=(Pipeline &&other) noexcept {
        if (this != &other) {
            ddsp_pipeline_free(p_);
            p_ = std::exchange(other.p_, nullptr);
        }
        return *this;
    }

    /// A file (.onnx, .tflite) or library name; false on failure (see lastError), the previous
    /// model playing on. Blocks: not on the audio thread.
    bool loadModel(const std::string &pathOrName) { return ddsp_pipeline_load_model(p_, pathOrName.c_str()) == 0; }
    /// A morph of 1..4 models (place order A, B, C, D). Returns the bit mask of places that failed
    /// (0: all loaded; the morph plays the others), or -1 when none loaded. Blocks.
    int loadMorph(const std::vector<std::string> &models) {
        std::vector<const char *> names;
        for (const auto &m : models) names.push_back(m.c_str());
        return ddsp_pipeline_load_morph(p_, names.data(), static_cast<std::uint32_t>(names.size()));
    }
    /// x, y in 0..1; glides. Real-time safe.
    void setMorph(float x, float y = 0.0f) { ddsp_pipeline_set_morph(p_, x, y); }
    /// DDSP_MORPH_SOURCE_OFF, a controller 0..119, DDSP_MORPH_SOURCE_TIMBRE or DDSP_MORPH_SOURCE_PRESSURE.
    bool setMorphSource(int source) { return ddsp_pipeline_set_morph_source(p_, source) == 0; }
    std::string lastError() const { return ddsp_pipeline_last_error(p_); }
    DdspModelInfo modelInfo() const {
        DdspModelInfo info{};
        ddsp_pipeline_model_info(p_, &info);
        return info;
    }

    void setF0Hz(float hz) { ddsp_pipeline_set_f0_hz(p_, hz); }
    void setLoudnessNorm(float norm) { ddsp_pipeline_set_loudness_norm(p_, norm); }
    void setLoudnessDb(float db) { ddsp_pipeline_set_loudness_db(p_, db); }
    void setSmoothingMs(float ms) { ddsp_pipeline_set_smoothing_ms(p_, ms); }
    /// preset: off, flat, cello, violin, flute, brass; quality: draft, standard, professional, mastering.
    bool setMaster(const std::string &preset, const std::string &quality = "standard") {
        return ddsp_pipeline_set_master(p_, preset.c_str(), quality.c_str()) == 0;
    }

    bool noteOn(std::uint8_t note, float velocity) { return ddsp_pipeline_note_on(p_, note, velocity) == 0; }
    bool noteOff(std::uint8_t note) { return ddsp_pipeline_note_off(p_, note) == 0; }
    bool pitchBend(float bend) { return ddsp_pipeline_pitch_bend(p_, bend) == 0; }
    bool controlChange(std::uint8_t cc, float value) { return ddsp_pipeline_control_change(p_, cc, value) == 0; }
    /// A raw MIDI channel message, `offset` samples into the next block.
    bool midi(const std::uint8_t *bytes, std::uint32_t len, std::uint32_t offset = 0) {
        return ddsp_pipeline_midi(p_, bytes, len, offset) == 0;
    }
    bool setPolyphony(std::uint32_t voices) { return ddsp_pipeline_set_polyphony(p_, voices) == 0; }
    bool reset() { return ddsp_pipeline_reset(p_) == 0; }

    /// Real-time safe.
    void process(float *out, std::uint32_t n) { ddsp_pipeline_process(p_, out, n); }
    void processStereo(float *left, float *right, std::uint32_t n) { ddsp_pipeline_process_stereo(p_, left, right, n); }
    void processAudio(const float *in, float *out, std::uint32_t n) { ddsp_pipeline_process_audio(p_, in, out, n); }
    /// Timbre transfer's MIDI out since the last call (notes and bends of the tracked input), up to
    /// `capacity` messages into `out`; returns how many. Audio thread, after each process call.
    std::uint32_t midiOut(DdspMidiMessage *out, std::uint32_t capacity) { return ddsp_pipeline_midi_out(p_, out, capacity); }
    /// mode: DDSP_MIDI_OUT_OFF, _ONE_CHANNEL (channel 1..16) or _MPE; bendRange: the receiver's, semitones.
    bool setMidiOut(std::uint32_t mode, std::uint32_t channel = 1, std::uint32_t bendRange = 2) {
        return ddsp_pipeline_set_midi_out(p_, mode, channel, bendRange) == 0;
    }
    /// key: 0..11 (C = 0) or -1 for the raw pitch; scale: DDSP_SCALE_* or any 12-bit mask.
    bool setPitchCorrection(int key, std::uint32_t scale = DDSP_SCALE_MAJOR, float retuneMs = 20.0f) {
        return ddsp_pipeline_set_pitch_correction(p_, key, scale, retuneMs) == 0;
    }
    bool setPitchOptions(float strength = 1.0f, float smoothingMs = 0.0f, bool modelHearsCorrected = true) {
        return ddsp_pipeline_set_pitch_options(p_, strength, smoothingMs, modelHearsCorrected ? 1 : 0) == 0;
    }
    /// alignHz: 0 for the lowest latency, or the lowest note (30..2000 Hz) whose pitch comes out
    /// at audioLatencySamples() with its loudness.
    bool setPitchLatency(float alignHz) { return ddsp_pipeline_set_pitch_latency(p_, alignHz) == 0; }

    std::uint32_t latencySamples() const { return ddsp_pipeline_latency_samples(p_); }
    std::uint32_t audioLatencySamples() const { return ddsp_pipeline_audio_latency_samples(p_); }

    /// The C handle, for calls the wrapper does not cover.
    DdspPipeline *get() const { return p_; }

private:
    DdspPipeline *p_;
};

}  // namespace ddsp

#endif  // DDSP_HPP
