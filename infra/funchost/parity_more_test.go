package funchost

// Parity checks of unexported pieces that no process needs to exercise
// (see parity_test.go for the rest).

import (
	"encoding/json"
	"strings"
	"testing"
)

// Item 9e (conversion half). azure-functions-host
// HttpScriptInvocationResultExtensions.GetBindingValue: every output value is
// tried with Convert.FromBase64String unless the binding's dataType is
// binary; a string that decodes is sent as those bytes.
func TestParityServiceBusOutputBase64(t *testing.T) {
	ct := func(s *string) string {
		if s == nil {
			return "<none>"
		}
		return *s
	}
	for _, c := range []struct {
		raw          string
		binary       bool
		body, ctype  string
		wantMessages int
	}{
		{`"aGVsbG8="`, false, "hello", "<none>", 1},              // base64: its bytes
		{`"aGVs bG8="`, false, "hello", "<none>", 1},             // white space ignored, as .NET does
		{`"aGVsbG8="`, true, "aGVsbG8=", "text/plain", 1},        // dataType binary: the text itself
		{`"hello world"`, false, "hello world", "text/plain", 1}, // not base64
		{`{"n":1}`, false, `{"n":1}`, "application/json", 1},     // an object is JSON
		{`["aGVsbG8=","x"]`, false, "aGVsbG8=", "text/plain", 2}, // array items are not decoded
	} {
		msgs, err := outputMessages(json.RawMessage(c.raw), c.binary)
		if err != nil || len(msgs) != c.wantMessages {
			t.Errorf("%s binary=%v: %d messages, %v", c.raw, c.binary, len(msgs), err)
			continue
		}
		if got := string(msgs[0].Body); got != c.body || ct(msgs[0].ContentType) != c.ctype {
			t.Errorf("%s binary=%v: body %q content type %q, want %q %q", c.raw, c.binary, got, ct(msgs[0].ContentType), c.body, c.ctype)
		}
	}
}

// Item 9d (storage half). azure-webjobs-sdk IConfigurationExtensions.
// GetWebJobsConnectionStringSection: the prefixed name AzureWebJobsStorage
// first, then the bare "Storage"; identity-based storage is refused by name.
func TestParityStorageConnectionLookup(t *testing.T) {
	for _, c := range []struct {
		settings Settings
		want     string
		wantErr  string
	}{
		{Settings{"AzureWebJobsStorage": "prefixed", "Storage": "bare"}, "prefixed", ""},
		{Settings{"Storage": "bare"}, "bare", ""},
		{Settings{"AzureWebJobsStorage__accountName": "acct"}, "", "setting AzureWebJobsStorage is identity-based"},
		{Settings{}, "", "Storage account connection string 'AzureWebJobsStorage' does not exist."},
	} {
		got, err := storageConnection(c.settings)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if got != c.want || !strings.Contains(msg, c.wantErr) || (c.wantErr == "") != (msg == "") {
			t.Errorf("%v: %q %q, want %q %q", c.settings, got, msg, c.want, c.wantErr)
		}
	}
}
