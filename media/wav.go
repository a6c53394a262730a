package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrNotWAV: the data is not a RIFF/WAVE file with a format and a data chunk.
var ErrNotWAV = errors.New("not a WAV file")

// maxChunk bounds a chunk WAVInfo reads into memory (the fmt chunk).
const maxChunk = 1 << 16

// WAVInfo reads a RIFF/WAVE stream and returns the duration of its audio,
// its sample rate and channel count. It reads through the data chunk, so a
// file cut short reports the audio it really holds, and a data size left
// unset by a writer that never finished (0 or 0xFFFFFFFF) is measured. A
// file without audio returns a duration of 0 and no error: callers decide
// whether empty audio is a fault. Malformed data returns an error wrapping
// ErrNotWAV.
func WAVInfo(r io.Reader) (duration time.Duration, sampleRate, channels int, err error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, 0, 0, fmt.Errorf("%w: reading RIFF header: %v", ErrNotWAV, err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return 0, 0, 0, fmt.Errorf("%w: no RIFF/WAVE signature", ErrNotWAV)
	}
	var byteRate uint32
	haveFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return 0, 0, 0, fmt.Errorf("%w: no data chunk", ErrNotWAV)
			}
			return 0, 0, 0, fmt.Errorf("wav: reading chunk header: %w", err)
		}
		id, size := string(ch[0:4]), binary.LittleEndian.Uint32(ch[4:8])
		switch id {
		case "fmt ":
			if size < 16 || size > maxChunk {
				return 0, 0, 0, fmt.Errorf("%w: fmt chunk of %d bytes", ErrNotWAV, size)
			}
			buf := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, buf); err != nil {
				return 0, 0, 0, fmt.Errorf("%w: reading fmt chunk: %v", ErrNotWAV, err)
			}
			channels = int(binary.LittleEndian.Uint16(buf[2:4]))
			sampleRate = int(binary.LittleEndian.Uint32(buf[4:8]))
			byteRate = binary.LittleEndian.Uint32(buf[8:12])
			if channels == 0 || sampleRate == 0 || byteRate == 0 {
				return 0, 0, 0, fmt.Errorf("%w: fmt chunk with %d channels, %d Hz, %d bytes/s", ErrNotWAV, channels, sampleRate, byteRate)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return 0, 0, 0, fmt.Errorf("%w: data chunk before fmt chunk", ErrNotWAV)
			}
			var n int64
			if size == 0 || size == 0xFFFFFFFF {
				n, err = io.Copy(io.Discard, r)
			} else {
				n, err = io.CopyN(io.Discard, r, int64(size))
				if errors.Is(err, io.EOF) {
					err = nil // cut short: report what is there
				}
			}
			if err != nil {
				return 0, 0, 0, fmt.Errorf("wav: reading data chunk: %w", err)
			}
			br := int64(byteRate)
			d := time.Duration(n/br)*time.Second + time.Duration(n%br)*time.Second/time.Duration(br)
			return d, sampleRate, channels, nil
		default:
			// Skip LIST, fact, cue and any other chunk (padded to even size).
			skip := int64(size) + int64(size%2)
			if _, err := io.CopyN(io.Discard, r, skip); err != nil {
				return 0, 0, 0, fmt.Errorf("%w: chunk %q cut short: %v", ErrNotWAV, id, err)
			}
		}
	}
}
