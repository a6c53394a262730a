// Package media names the media callflow plays and keeps: prompt URIs
// (sound:, recording:, digits:, number:, silence:, tone:) and a
// directory-backed store of recordings that writes atomically, expires old
// recordings and serves them over HTTP.
//
// Recording names are plain file names without a directory or an extension
// ("rec-1a2b.3"); the store keeps each as NAME.FORMAT in its directory.
package media
