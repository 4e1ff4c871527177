// Command vectors prints fixed test vectors for Gopherbot's encryption formats, made with Go's crypto/aes and
// crypto/cipher GCM (the same calls Gopherbot's bot/aescrypt.go makes), encoding/base64 and go-textwrapper. Nonces and keys are
// fixed so the output never changes; tests/unit/test_crypto.py holds it as constants.
//
// Run: cd tests/vectors && go run .
//
// With -open, it instead reads lines "KEYHEX BASE64" from standard input, opens each BASE64 (nonce || ciphertext ||
// tag) with that key as Gopherbot's decrypt does, and prints the plaintext in Go's %q form: a check that Python's
// output is readable by Go.
package main

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
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

// open is Gopherbot's decrypt: the first NonceSize bytes are the nonce, the rest ciphertext and tag.
func open(key, blob []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if len(blob) < gcm.NonceSize() {
		return nil, fmt.Errorf("ciphertext too short")
	}
	return gcm.Open(nil, blob[:gcm.NonceSize()], blob[gcm.NonceSize():], nil)
}

func openLines() {
	scanner := bufio.NewScanner(os.Stdin)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) != 2 {
			continue
		}
		key, err := hex.DecodeString(fields[0])
		if err != nil {
			panic(err)
		}
		blob, err := base64.StdEncoding.DecodeString(fields[1])
		if err != nil {
			panic(err)
		}
		plaintext, err := open(key, blob)
		if err != nil {
			fmt.Printf("ERROR %v\n", err)
			continue
		}
		fmt.Printf("%q\n", plaintext)
	}
}

func main() {
	openMode := flag.Bool("open", false, "open KEYHEX BASE64 lines from standard input")
	flag.Parse()
	if *openMode {
		openLines()
		return
	}
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
