// Command vectors prints fixed test vectors for Gopherbot's encryption formats, made with Go's crypto/aes and
// crypto/cipher GCM (the same calls Gopherbot's bot/aescrypt.go makes), encoding/base64 and go-textwrapper. Nonces and keys are
// fixed so the output never changes; tests/unit/test_crypto.py holds it as constants.
//
// Run: cd tests/vectors && go run .
package main

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/emersion/go-textwrapper"
)

const (
	startupKey     = "vectors-startup-key-0123456789ABCDEF-and-ignored-tail" // only the first 32 bytes count
	inlineSecret   = "correct horse battery staple"
	memoryJSON     = `{"Channel":"general","Items":["bananas","bread"],"Owner":"alice"}`
	boundaryLength = 203 // 203 + 28 bytes of nonce and tag = 231 bytes = 308 base64 characters = 4 full lines of 77
)

func fixedBytes(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func seal(key, nonce, plaintext []byte) []byte {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return gcm.Seal(append([]byte{}, nonce...), nonce, plaintext, nil)
}

// base64File does what Gopherbot's WriteBase64 (bot/base64_io.go) does: the header line, then base64 through
// go-textwrapper at 77 columns, then a final newline.
func base64File(payload []byte) string {
	var out strings.Builder
	out.WriteString("#GOPHERBOT-BASE64-DATA\n")
	w := textwrapper.New(&out, "\n", 77)
	encoder := base64.NewEncoder(base64.StdEncoding, w)
	if _, err := encoder.Write(payload); err != nil {
		panic(err)
	}
	if err := encoder.Close(); err != nil {
		panic(err)
	}
	if _, err := w.Write([]byte("\n")); err != nil {
		panic(err)
	}
	return out.String()
}

func main() {
	runtimeKey := fixedBytes(0x11, 32)
	binaryKey := seal([]byte(startupKey)[0:32], fixedBytes(0xa0, 12), runtimeKey)
	inline := seal(runtimeKey, fixedBytes(0xb0, 12), []byte(inlineSecret))
	memory := seal(runtimeKey, fixedBytes(0xc0, 12), []byte(memoryJSON))
	boundary := seal(runtimeKey, fixedBytes(0xd0, 12), []byte(strings.Repeat("m", boundaryLength)))

	fmt.Printf("STARTUP_KEY = %q\n", startupKey)
	fmt.Printf("RUNTIME_KEY_HEX = %q\n", fmt.Sprintf("%x", runtimeKey))
	fmt.Printf("BINARY_ENCRYPTED_KEY = %q\n", base64.StdEncoding.EncodeToString(binaryKey))
	fmt.Printf("INLINE_SECRET = %q\n", inlineSecret)
	fmt.Printf("INLINE_VALUE = %q\n", base64.StdEncoding.EncodeToString(inline))
	fmt.Printf("MEMORY_JSON = %q\n", memoryJSON)
	fmt.Printf("MEMORY_FILE = %q\n", base64File(memory))
	fmt.Printf("BOUNDARY_LENGTH = %d\n", boundaryLength)
	fmt.Printf("BOUNDARY_FILE = %q\n", base64File(boundary))
}
