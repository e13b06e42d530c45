package funchost

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"meterline/shared/azurite"
)

// Function keys, kept where the real host keeps them by default
// (BlobStorageSecretsRepository): container azure-webjobs-secrets in
// AzureWebJobsStorage, blob <hostId>/host.json for the master key and the
// host-level function keys, <hostId>/<function>.json (lower case) for a
// function's own keys, in the JSON of HostSecrets/FunctionSecrets
// (ScriptSecrets, Key). Missing secrets are generated on first start
// (SecretManager.GenerateHostSecrets: master key "master", one host function
// key "default", no system keys; GenerateFunctionSecrets: one key
// "default"), so keys survive restarts.
//
// FUNCHOST_MASTER_KEY and FUNCHOST_FUNCTION_KEY, when set, pin the master key
// and the host-level "default" function key for tests (in memory only). An
// app without AzureWebJobsStorage gets keys generated for the run only.

const (
	secretsContainer       = "azure-webjobs-secrets"
	masterKeyName          = "master"
	defaultFunctionKeyName = "default"
	pinnedMasterSetting    = "FUNCHOST_MASTER_KEY"
	pinnedFunctionSetting  = "FUNCHOST_FUNCTION_KEY"
)

// secretKey is the Key class: {"name", "value", "encrypted"}.
type secretKey struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Encrypted bool   `json:"encrypted"`
}

// secretsInfo are ScriptSecrets' own fields.
type secretsInfo struct {
	HostName        string `json:"hostName"`
	InstanceID      string `json:"instanceId"`
	Source          string `json:"source"`
	DecryptionKeyID string `json:"decryptionKeyId"`
}

type hostSecrets struct {
	MasterKey    *secretKey  `json:"masterKey"`
	FunctionKeys []secretKey `json:"functionKeys"`
	SystemKeys   []secretKey `json:"systemKeys"`
	secretsInfo
}

type functionSecrets struct {
	Keys []secretKey `json:"keys"`
	secretsInfo
}

// AppKeys are an app's keys, for tests and `make run`.
type AppKeys struct {
	App          string
	HostID       string
	MasterKey    string
	FunctionKeys map[string]string            // host-level function keys by name ("default")
	SystemKeys   map[string]string            // by name
	Functions    map[string]map[string]string // HTTP function name -> its own keys by name
	Persisted    bool                         // kept in AzureWebJobsStorage (else for this run only)
}

// appKeys is what the HTTP router checks against.
type appKeys struct {
	AppKeys
}

// authLevel orders AuthorizationLevel: Anonymous < Function < System < Admin.
type authLevel int

const (
	levelAnonymous authLevel = iota
	levelFunction
	levelSystem
	levelAdmin
)

func keyEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func anyKeyEqual(keys map[string]string, v string) bool {
	for _, k := range keys {
		if keyEqual(k, v) {
			return true
		}
	}
	return false
}

// level is SecretManager.GetAuthorizationLevelAsync: the master key is
// Admin, a system key System, a host function key or one of the function's
// own keys Function, anything else Anonymous.
func (k *appKeys) level(key, function string) authLevel {
	switch {
	case key == "":
		return levelAnonymous
	case keyEqual(k.MasterKey, key):
		return levelAdmin
	case anyKeyEqual(k.SystemKeys, key):
		return levelSystem
	case anyKeyEqual(k.FunctionKeys, key):
		return levelFunction
	}
	for name, keys := range k.Functions {
		if strings.EqualFold(name, function) && anyKeyEqual(keys, key) {
			return levelFunction
		}
	}
	return levelAnonymous
}

// presentedKey is AuthenticationLevelHandler's key: the x-functions-key
// header when present (even empty), else the code query parameter.
func presentedKey(r *http.Request) string {
	if v, ok := r.Header[http.CanonicalHeaderKey("x-functions-key")]; ok {
		if len(v) > 0 {
			return v[0]
		}
		return ""
	}
	return r.URL.Query().Get("code")
}

// newKeyValue makes a key the shape of SecretGenerator's: 40 random bytes,
// URL-safe base64 with its padding (56 characters).
func newKeyValue() string {
	b := make([]byte, 40)
	_, _ = rand.Read(b)
	return base64.URLEncoding.EncodeToString(b)
}

func keyMap(keys []secretKey) map[string]string {
	m := map[string]string{}
	for _, k := range keys {
		m[k.Name] = k.Value
	}
	return m
}

// loadKeys reads, or creates, the app's secrets.
func loadKeys(ctx context.Context, a *App, hostName string) (*appKeys, error) {
	k := &appKeys{AppKeys{App: a.Name, HostID: a.HostID, Functions: map[string]map[string]string{}}}
	info := secretsInfo{HostName: hostName, InstanceID: a.HostID, Source: "runtime"}
	newHost := func() *hostSecrets {
		return &hostSecrets{
			MasterKey:    &secretKey{Name: masterKeyName, Value: newKeyValue()},
			FunctionKeys: []secretKey{{Name: defaultFunctionKeyName, Value: newKeyValue()}},
			SystemKeys:   []secretKey{},
			secretsInfo:  info,
		}
	}
	newFunction := func() *functionSecrets {
		return &functionSecrets{Keys: []secretKey{{Name: defaultFunctionKeyName, Value: newKeyValue()}}, secretsInfo: info}
	}

	var store *secretStore
	if conn, err := storageConnection(a.Settings); err == nil {
		if store, err = newSecretStore(conn, a.HostID); err != nil {
			return nil, err
		}
		k.Persisted = true
	} else {
		a.log.Warn("AzureWebJobsStorage is not set: function keys are generated for this run only", "app", a.Name)
	}

	hs := newHost()
	if store != nil {
		if err := store.loadOrCreate(ctx, "host.json", hs); err != nil {
			return nil, err
		}
	}
	if hs.MasterKey == nil || hs.MasterKey.Encrypted || hasEncrypted(hs.FunctionKeys) || hasEncrypted(hs.SystemKeys) {
		return nil, fmt.Errorf("%s/%s/host.json: keys encrypted by another host (or no master key) cannot be read locally; delete the blob to have new keys generated",
			secretsContainer, strings.ToLower(a.HostID))
	}
	k.MasterKey = hs.MasterKey.Value
	k.FunctionKeys = keyMap(hs.FunctionKeys)
	k.SystemKeys = keyMap(hs.SystemKeys)
	for _, fn := range a.Functions {
		if fn.Route == nil {
			continue
		}
		fs := newFunction()
		if store != nil {
			if err := store.loadOrCreate(ctx, strings.ToLower(fn.Name)+".json", fs); err != nil {
				return nil, err
			}
		}
		if hasEncrypted(fs.Keys) {
			return nil, fmt.Errorf("%s/%s/%s.json: keys encrypted by another host cannot be read locally", secretsContainer, strings.ToLower(a.HostID), strings.ToLower(fn.Name))
		}
		k.Functions[fn.Name] = keyMap(fs.Keys)
	}
	if v, _ := a.Settings.Lookup(pinnedMasterSetting); v != "" {
		k.MasterKey = v
	}
	if v, _ := a.Settings.Lookup(pinnedFunctionSetting); v != "" {
		k.FunctionKeys[defaultFunctionKeyName] = v
	}
	return k, nil
}

func hasEncrypted(keys []secretKey) bool {
	for _, k := range keys {
		if k.Encrypted {
			return true
		}
	}
	return false
}

// secretStore is the secrets container of one host id.
type secretStore struct {
	container *container.Client
	root      string // the host id, lower case, as BlobStorageSecretsRepository uses it
}

func newSecretStore(conn, hostID string) (*secretStore, error) {
	client, err := azblob.NewClientFromConnectionString(azurite.ExpandConnectionString(conn), nil)
	if err != nil {
		return nil, errors.New("setting AzureWebJobsStorage is not a storage connection string")
	}
	return &secretStore{container: client.ServiceClient().NewContainerClient(secretsContainer), root: strings.ToLower(hostID)}, nil
}

// loadOrCreate reads blob <root>/<name> into v, or, when it does not exist,
// writes v (already filled with new keys) there. When another host writes it
// first, that host's keys are read, as SecretManager does on a write race.
func (s *secretStore) loadOrCreate(ctx context.Context, name string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b := s.container.NewBlockBlobClient(s.root + "/" + name)
	path := secretsContainer + "/" + s.root + "/" + name
	for attempt := 0; attempt < 2; attempt++ {
		resp, err := b.DownloadStream(ctx, nil)
		if err == nil {
			raw, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr != nil {
				return fmt.Errorf("%s: %w", path, rerr)
			}
			if err := json.Unmarshal(raw, v); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			return nil
		}
		if !bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) {
			return fmt.Errorf("%s: %w", path, err)
		}
		if _, err := s.container.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
			return fmt.Errorf("%s: %w", secretsContainer, err)
		}
		raw, _ := json.MarshalIndent(v, "", "  ")
		etagAny := azcore.ETagAny
		_, err = b.Upload(ctx, nopCloser{bytes.NewReader(raw)}, &blockblob.UploadOptions{
			AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: &etagAny}},
		})
		if err == nil {
			return nil
		}
		if !bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet) {
			return fmt.Errorf("%s: %w", path, err)
		}
		// Someone else wrote it meanwhile: read theirs.
	}
	return fmt.Errorf("%s: could not be read or created", path)
}
