package asterisk

// eventTypes is the application event filter the driver asks Asterisk for on
// every connection (ari.Config.EventTypes): the event types the driver and the
// ari helpers it calls wait for, and nothing else. Asterisk otherwise sends
// every event of every channel in the application — ChannelVarset for each
// variable set, ChannelDialplan, ChannelCreated, BridgeCreated,
// ChannelEnteredBridge … — which under load is most of the websocket traffic
// and most of the client's decoding work.
//
// TestEventFilterCoversDriver derives the types the code switches on from the
// source of this package and of ari, and fails when one is missing here.
var eventTypes = []string{
	"StasisStart", "StasisEnd", "ApplicationReplaced",
	"ChannelDestroyed", "ChannelHangupRequest", "ChannelStateChange",
	"ChannelDtmfReceived", "ChannelLeftBridge", "Dial",
	"PlaybackFinished", "RecordingFinished", "RecordingFailed",
}
