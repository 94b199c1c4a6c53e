-- Drives Ardour 7 headless (ardour7-lua, dummy backend) for host-tests/ardour/run.py, in three runs:
--   ardour7-lua session.lua record SESSION_DIR EXPORT_DIR   new session, a MIDI track with the DDSP
--       Instrument VST3, notes played into the virtual keyboard and recorded, saved, exported
--   ardour7-lua session.lua reopen SESSION_DIR EXPORT_DIR   the saved session loaded (plugin state
--       restored by Ardour), exported again
--   ardour7-lua session.lua midiout SESSION_DIR             new session: the instrument track gets the
--       DDSP Effect VST3 after the instrument (timbre transfer of what it plays), whose MIDI out
--       (the track's MIDI output) a second MIDI track records while the notes are played; every
--       recorded note is logged ("NOTE ...") for run.py to judge
-- Each step is logged to stderr, flushed at once: ardour7-lua buffers its own stdout and may abort
-- while tearing down after the work is done, taking unflushed output with it. The driver judges the
-- exported files and these lines, never the exit code.

local MODE, SESSION_DIR, EXPORT_DIR = arg[1], arg[2], arg[3]
local SNAPSHOT = "ddsp"
local PLUGIN = "DDSP Instrument"
-- The export preset run.py writes into Ardour's configuration: 32-bit float WAV at the session rate.
local WAV_PRESET = "6f5a3c1e-0d2b-4f7a-9c1e-0dd5b0e57001"
-- Played and recorded in this order; run.py expects the same list.
local NOTES = { 60, 67, 72 }
local NOTE_S, GAP_S = 0.8, 0.4
-- A non-default value set before recording: the reopened session must come back with it (Ardour's
-- VST3 state restore), and the two exports then play at the same level. Ardour sets VST3 parameters
-- in the plugin's plain units: linear gain here, 0.5 = -6 dB (default 1).
local GAIN_PARAM, GAIN_VALUE = "Output Gain", 0.5
-- The effect's MIDI out goes out on this channel (its "MIDI Out Channel" parameter, 1-16), so its
-- notes are told apart from the keyboard's, which the track passes through on channel 1.
local EFFECT_PLUGIN, MIDI_OUT_PARAM, MIDI_OUT_CHANNEL = "DDSP Effect", "MIDI Out Channel", 5

local function log(...)
	local parts = {}
	for i = 1, select("#", ...) do parts[#parts + 1] = tostring(select(i, ...)) end
	io.stderr:write(table.concat(parts, " ") .. "\n")
	io.stderr:flush()
end

local function step(name, ok, detail)
	if not ok then error(name .. " failed" .. (detail and (": " .. detail) or ""), 0) end
	log("STEP ok: " .. name .. (detail and (" (" .. detail .. ")") or ""))
end

local function now_s() return ARDOUR.LuaAPI.monotonic_time() / 1e6 end

-- Transport requests are served by the process thread, captures written by the butler: poll
-- rather than guess a delay (a busy machine answers late, not never).
local function wait_for(condition, timeout_s)
	local deadline = now_s() + timeout_s
	while not condition() do
		if now_s() > deadline then return false end
		sleep(0.05)
	end
	return true
end

-- The track named `name` ("Instrument" if none), or nil.
local function the_track(name)
	local found = nil
	for route in Session:get_routes():iter() do
		if route:name() == (name or "Instrument") and not route:to_track():isnil() then found = route:to_track() end
	end
	return found
end

-- A new MIDI track `name` (one MIDI input) with `outputs` and the plugin `info` (none: nil).
-- Returns the track and how many tracks were made. strict_io false: with strict I/O, Ardour 7.3
-- reconfigures the new track's outputs while its auto-connect thread works on them and aborts on
-- a port registered twice (8 of 10 runs).
local function new_midi_track(name, outputs, info)
	local tracks = Session:new_midi_track(ARDOUR.ChanCount(ARDOUR.DataType("midi"), 1), outputs, false,
		info or ARDOUR.PluginInfo(), nil, nil, 1, name, ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal,
		true, false)
	return the_track(name), tracks:size()
end

local STEREO = ARDOUR.ChanCount(ARDOUR.DataType("audio"), 2)

local function the_plugin(track)
	local proc = track:nth_plugin(0)
	if proc:isnil() then return nil end
	return proc
end

-- The control-input index of a parameter by its label, as set/get_processor_param count them.
local function input_index(plugin, label)
	local input = 0
	for j = 0, plugin:parameter_count() - 1 do
		if plugin:parameter_is_input(j) and plugin:parameter_is_control(j) then
			if plugin:parameter_label(j) == label then return input end
			input = input + 1
		end
	end
	return nil
end

local function describe_plugin(proc)
	local insert = proc:to_insert()
	local plugin = insert:plugin(0)
	local inputs = 0
	for j = 0, plugin:parameter_count() - 1 do
		if plugin:parameter_is_input(j) and plugin:parameter_is_control(j) then inputs = inputs + 1 end
	end
	log(string.format("plugin: %s by %s, type %s, %d parameters (%d control inputs)",
		plugin:name(), plugin:maker(), ARDOUR.PluginType.name(insert:type()), plugin:parameter_count(), inputs))
	return plugin
end

local function export(name)
	local ex = Session:simple_export()
	ex:set_name(name)
	ex:set_folder(EXPORT_DIR)
	ex:set_range(Session:current_start_sample(), Session:current_end_sample())
	step("export preset", ex:set_preset(WAV_PRESET))
	step("export outputs", ex:check_outputs())
	local t0 = now_s()
	step("export " .. name, ex:run_export(),
		string.format("%d..%d samples in %.2f s", Session:current_start_sample(), Session:current_end_sample(), now_s() - t0))
end

-- Only the virtual keyboard feeds `track`: the backend's own MIDI inputs stay out. Returns the
-- keyboard's port.
local function keyboard_into(track)
	local input = track:input()
	input:disconnect_all(nil)
	local keyboard = nil
	local _, ports = Session:engine():get_ports(ARDOUR.DataType("midi"), ARDOUR.PortList())
	for port in ports[2]:iter() do
		if port:name() == "x-virtual-keyboard" then keyboard = port:to_asyncmidiport() end
	end
	step("x-virtual-keyboard port", keyboard ~= nil and not keyboard:isnil())
	input:midi(0):connect("x-virtual-keyboard")
	step("track input connected to the keyboard", input:midi(0):connected_to("x-virtual-keyboard"))
	return keyboard
end

-- Rolls with recording on (the armed tracks record), plays NOTES on `keyboard`, stops.
local function record_notes(keyboard)
	Session:maybe_enable_record(false)
	Session:request_roll(ARDOUR.TransportRequestSource.TRS_UI)
	step("recording", wait_for(function() return Session:transport_rolling() and Session:actively_recording() end, 10))
	sleep(0.4)

	local parser = ARDOUR.RawMidiParser()
	local function send(status, note, velocity)
		for _, byte in ipairs({ status, note, velocity }) do
			if parser:process_byte(byte) then
				keyboard:write(parser:midi_buffer(), parser:buffer_size(), 0)
			end
		end
	end
	for _, note in ipairs(NOTES) do
		send(0x90, note, 100)
		sleep(NOTE_S)
		send(0x80, note, 64)
		sleep(GAP_S)
	end
	Session:request_stop(false, false, ARDOUR.TransportRequestSource.TRS_UI)
	step("transport stopped", wait_for(function() return not Session:transport_rolling() end, 10))
end

local function record()
	local t0 = now_s()
	step("create session", create_session(SESSION_DIR, SNAPSHOT, 48000) ~= nil,
		string.format("%s on %s, %.2f s", SESSION_DIR, AudioEngine:current_backend_name(), now_s() - t0))

	local info = ARDOUR.LuaAPI.new_plugin_info(PLUGIN, ARDOUR.PluginType.VST3)
	step("find the VST3 in Ardour's plugin cache", not info:isnil(), PLUGIN)

	t0 = now_s()
	local track, made = new_midi_track("Instrument", STEREO, info)
	step("MIDI track with the instrument", track ~= nil and made == 1 and the_plugin(track) ~= nil,
		string.format("%.2f s", now_s() - t0))
	local proc = the_plugin(track)
	local plugin = describe_plugin(proc)

	local gain = input_index(plugin, GAIN_PARAM)
	step("find parameter " .. GAIN_PARAM, gain ~= nil)
	step("set " .. GAIN_PARAM, ARDOUR.LuaAPI.set_processor_param(proc, gain, GAIN_VALUE),
		tostring(GAIN_VALUE))

	local keyboard = keyboard_into(track)
	track:rec_enable_control():set_value(1, PBD.GroupControlDisposition.NoGroup)
	record_notes(keyboard)
	track:rec_enable_control():set_value(0, PBD.GroupControlDisposition.NoGroup)

	local regions, notes = 0, 0
	local function count()
		regions, notes = 0, 0
		for region in track:playlist():region_list():iter() do
			regions = regions + 1
			local midi_region = region:to_midiregion()
			if not midi_region:isnil() then
				for _ in ARDOUR.LuaAPI.note_list(midi_region:model()):iter() do notes = notes + 1 end
			end
		end
		return regions > 0
	end
	wait_for(count, 10)
	step("notes recorded", regions == 1 and notes == #NOTES,
		string.format("%d region(s), %d notes", regions, notes))

	step("save", Session:save_state("", false, false, false, false, false) == 0)
	export("first")
end

local function reopen()
	local t0 = now_s()
	step("load session", load_session(SESSION_DIR, SNAPSHOT) ~= nil,
		string.format("%s, %.2f s", SESSION_DIR, now_s() - t0))
	local track = the_track()
	step("track restored", track ~= nil)
	local proc = the_plugin(track)
	step("plugin restored", proc ~= nil and proc:active() and proc:name() == PLUGIN, proc and proc:name())
	local plugin = describe_plugin(proc)
	local gain = input_index(plugin, GAIN_PARAM)
	step("find parameter " .. GAIN_PARAM, gain ~= nil)
	local value, refs = ARDOUR.LuaAPI.get_processor_param(proc, gain, false)
	step(GAIN_PARAM .. " restored", refs[3] and math.abs(value - GAIN_VALUE) < 1e-4, tostring(value))
	export("second")
end

local function midiout()
	step("create session", create_session(SESSION_DIR, SNAPSHOT, 48000) ~= nil, AudioEngine:current_backend_name())
	local info = ARDOUR.LuaAPI.new_plugin_info(PLUGIN, ARDOUR.PluginType.VST3)
	step("find the VST3 in Ardour's plugin cache", not info:isnil(), PLUGIN)
	local track = new_midi_track("Instrument", STEREO, info)
	step("MIDI track with the instrument", track ~= nil and the_plugin(track) ~= nil)
	local fx = ARDOUR.LuaAPI.new_plugin(Session, EFFECT_PLUGIN, ARDOUR.PluginType.VST3, "")
	step("the effect after it", not fx:isnil() and track:add_processor_by_index(fx, -1, nil, true) == 0)
	local plugin = describe_plugin(fx)
	local channel = input_index(plugin, MIDI_OUT_PARAM)
	step("find parameter " .. MIDI_OUT_PARAM, channel ~= nil)
	step("set " .. MIDI_OUT_PARAM, ARDOUR.LuaAPI.set_processor_param(fx, channel, MIDI_OUT_CHANNEL),
		tostring(MIDI_OUT_CHANNEL))
	-- With the effect the track's output gains a MIDI port (strict I/O off: the outputs follow
	-- the last plugin's).
	local out = track:output()
	step("the track's outputs follow the effect's", out:n_ports():n_midi() == 1,
		string.format("%d audio, %d MIDI", out:n_ports():n_audio(), out:n_ports():n_midi()))
	local recorder = new_midi_track("MIDI out", ARDOUR.ChanCount(ARDOUR.DataType("midi"), 1), nil)
	step("a MIDI track to record it", recorder ~= nil)
	recorder:input():disconnect_all(nil)
	local source = out:midi(0):name()
	recorder:input():midi(0):connect(source)
	step("its input connected to " .. source, recorder:input():midi(0):connected_to(source))

	local keyboard = keyboard_into(track)
	-- Both armed: the instrument track plays its input (the keyboard) while recording.
	track:rec_enable_control():set_value(1, PBD.GroupControlDisposition.NoGroup)
	recorder:rec_enable_control():set_value(1, PBD.GroupControlDisposition.NoGroup)
	record_notes(keyboard)
	recorder:rec_enable_control():set_value(0, PBD.GroupControlDisposition.NoGroup)
	track:rec_enable_control():set_value(0, PBD.GroupControlDisposition.NoGroup)
	local function regions()
		local n = 0
		for _ in recorder:playlist():region_list():iter() do n = n + 1 end
		return n > 0
	end
	step("a region recorded", wait_for(regions, 10))
	-- NOTE channel(1-16) key velocity start length (beats:ticks, in the recorded region)
	for region in recorder:playlist():region_list():iter() do
		local midi_region = region:to_midiregion()
		if not midi_region:isnil() then
			for n in ARDOUR.LuaAPI.note_list(midi_region:model()):iter() do
				log(string.format("NOTE %d %d %d %s %s", n:channel() + 1, n:note(), n:velocity(), n:time():str(),
					n:length():str()))
			end
		end
	end
end

local ok, err = pcall(function()
	if MODE == "record" then record() elseif MODE == "reopen" then reopen() elseif MODE == "midiout" then midiout()
	else error("mode: record, reopen or midiout", 0) end
end)
if not ok then
	log("FAILED: " .. tostring(err))
	log("RESULT fail")
else
	log("RESULT ok")
end
-- Close here, not at exit: the teardown that sometimes aborts then runs after the result is out.
if Session then close_session() end
