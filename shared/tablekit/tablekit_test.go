package tablekit

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{"": "''", "a": "'a'", "o'brien": "'o''brien'", "''": "''''''"} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestStatusAndCode(t *testing.T) {
	re := &azcore.ResponseError{StatusCode: http.StatusConflict, ErrorCode: string(aztables.TableAlreadyExists)}
	wrapped := fmt.Errorf("create: %w", re)
	if got := Status(wrapped); got != http.StatusConflict {
		t.Errorf("Status = %d, want 409", got)
	}
	if !HasCode(wrapped, aztables.TableAlreadyExists) || HasCode(wrapped, aztables.ResourceNotFound) {
		t.Error("HasCode does not read the wrapped error's code")
	}
	if Status(errors.New("plain")) != 0 || HasCode(errors.New("plain"), aztables.TableAlreadyExists) {
		t.Error("a plain error has no status or code")
	}
}
