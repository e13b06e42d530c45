// Package tablekit holds the few Table Storage chores that every table adapter needs (the event
// store's and the views' tablestores, the Cloud API's meter log), so that each is written once:
// creating a table if missing, quoting an OData string literal, and reading the status and
// error code off an SDK error.
package tablekit

import (
	"context"
	"errors"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// CreateTable creates the table name unless it exists already, and returns its client.
func CreateTable(ctx context.Context, service *aztables.ServiceClient, name string) (*aztables.Client, error) {
	client := service.NewClient(name)
	if _, err := client.CreateTable(ctx, nil); err != nil && !HasCode(err, aztables.TableAlreadyExists) {
		return nil, err
	}
	return client, nil
}

// Quote quotes s as an OData string literal (a quote inside is doubled).
func Quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Status is the HTTP status of an SDK error, 0 if it carries none.
func Status(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// HasCode reports whether err is an SDK error with the Table service's error code.
func HasCode(err error, code aztables.TableErrorCode) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.ErrorCode == string(code)
}
