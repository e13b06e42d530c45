// Package azurite starts the pinned Azurite storage emulator (infra/azurite) as a child
// process on free loopback ports, for tests and for local runs.
//
// Each instance gets its own random account key (AZURITE_ACCOUNTS), so no key is ever
// written in code and two instances never share state.
package azurite

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"meterline/shared/nodejs"
)

// Account is the storage account name every instance serves.
const Account = "devstoreaccount1"

// Instance is a running Azurite process.
type Instance struct {
	BlobURL  string // e.g. http://127.0.0.1:41234/devstoreaccount1
	QueueURL string
	TableURL string
	key      string

	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
}

// Options tune Start. The zero value starts an in-memory instance on free ports.
type Options struct {
	// DataDir keeps the data on disk so that it survives restarts; empty means in memory.
	DataDir string
	// AccountKey is the base64 key of the account; empty means a random one.
	AccountKey string
	// BlobPort, QueuePort, TablePort: 0 picks free ports.
	BlobPort, QueuePort, TablePort int
	// Log receives Azurite's own output; nil discards it.
	Log io.Writer
}

// ConnectionString is a storage connection string for the instance, usable by
// aztables.NewServiceClientFromConnectionString and azblob.NewClientFromConnectionString.
func (i *Instance) ConnectionString() string {
	return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s;QueueEndpoint=%s;TableEndpoint=%s;",
		Account, i.key, i.BlobURL, i.QueueURL, i.TableURL)
}

// Folder is the repository folder holding the pinned Azurite and the Node.js it runs on.
func Folder() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "infra", "azurite"), nil
}

// Script is the path of Azurite's entry point inside the repository.
func Script() (string, error) {
	dir, err := Folder()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "node_modules", "azurite", "dist", "src", "azurite.js")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("azurite is not installed at %s: run `make deps` (npm ci in infra/azurite)", p)
	}
	return p, nil
}

// RepoRoot walks up from the working directory to the folder holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

var listening = regexp.MustCompile(`Azurite (Blob|Queue|Table) service is successfully listening at (http://\S+)`)

// Start launches Azurite and waits until all three services listen.
func Start(ctx context.Context, opt Options) (*Instance, error) {
	script, err := Script()
	if err != nil {
		return nil, err
	}
	key := opt.AccountKey
	if key == "" {
		b := make([]byte, 64)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		key = base64.StdEncoding.EncodeToString(b)
	}
	args := []string{script,
		"--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(opt.BlobPort),
		"--queueHost", "127.0.0.1", "--queuePort", fmt.Sprint(opt.QueuePort),
		"--tableHost", "127.0.0.1", "--tablePort", fmt.Sprint(opt.TablePort),
		"--skipApiVersionCheck", "--disableProductStyleUrl", "--disableTelemetry",
	}
	if opt.DataDir != "" {
		if err := os.MkdirAll(opt.DataDir, 0o755); err != nil {
			return nil, err
		}
		args = append(args, "--location", opt.DataDir)
	} else {
		args = append(args, "--inMemoryPersistence")
	}
	dir, _ := Folder() // found already by Script
	node, err := nodejs.For(dir)
	if err != nil {
		return nil, fmt.Errorf("azurite: %w", err)
	}
	cmd := exec.Command(node.Bin, args...)
	cmd.Env = append(os.Environ(), "AZURITE_ACCOUNTS="+Account+":"+key)
	// Own process group, so that stopping it stops everything it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start azurite: %w", err)
	}
	inst := &Instance{key: key, cmd: cmd, done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		urls := map[string]string{}
		var tail []string
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if opt.Log != nil {
				fmt.Fprintln(opt.Log, line)
			}
			if len(urls) < 3 {
				tail = append(tail, line)
				if m := listening.FindStringSubmatch(line); m != nil {
					urls[m[1]] = strings.TrimRight(m[2], "/") + "/" + Account
					if len(urls) == 3 {
						inst.BlobURL, inst.QueueURL, inst.TableURL = urls["Blob"], urls["Queue"], urls["Table"]
						ready <- nil
					}
				}
			}
		}
		if len(urls) < 3 {
			ready <- fmt.Errorf("azurite exited before listening:\n%s", strings.Join(tail, "\n"))
		}
		cmd.Wait()
		close(inst.done)
	}()
	select {
	case err := <-ready:
		if err != nil {
			inst.Stop()
			return nil, err
		}
		return inst, nil
	case <-time.After(60 * time.Second):
		inst.Stop()
		return nil, errors.New("azurite did not listen within 60s")
	case <-ctx.Done():
		inst.Stop()
		return nil, ctx.Err()
	}
}

// Stop ends the process (SIGTERM, then SIGKILL after 5 s) and waits for it.
func (i *Instance) Stop() {
	i.once.Do(func() {
		if i.cmd.Process == nil {
			return
		}
		syscall.Kill(-i.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-i.done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-i.cmd.Process.Pid, syscall.SIGKILL)
			<-i.done
		}
	})
}
