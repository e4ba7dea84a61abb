// An independent reader of a btfgen layer, written from Inspektor Gadget's code, for the tests.
//
//	ig_reader OS_RELEASE UNAME_M UNAME_R PACKAGE OUT
//
// - os-release as pkg/btfgen GetOSInfo() reads it: each line split once at "=", ID taken as
//   written (os-release's quotes stay: "centos"), VERSION_ID with its quotes trimmed; both
//   must be non-empty;
// - the name fmt.Sprintf("%s/%s/%s/%s.btf", ID, VERSION_ID, uname -m, uname -r): no "./";
// - getBTFFile() in pkg/operators/btfgen: gzip.NewReader, tar.NewReader, the first entry whose
//   hdr.Name (PAX and GNU long names applied by archive/tar) equals the name, io.ReadAll of it.
//   A hard link's entry has no content: 0 bytes, and no error.
//
// Exit status: 0 found (OUT written, possibly empty), 1 not found, 3 not gzip / corrupt tar,
// 4 usage or I/O error. The name looked for goes to stderr.
package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"
)

func osInfo(path string) (string, string, error) {
	file, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer file.Close()
	var id, versionID string
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		parts := strings.SplitN(scanner.Text(), "=", 2)
		if len(parts) != 2 {
			continue
		}
		switch parts[0] {
		case "ID":
			id = parts[1]
		case "VERSION_ID":
			versionID = strings.Trim(parts[1], "\"")
		}
	}
	if id == "" || versionID == "" {
		return "", "", fmt.Errorf("os-release file is incomplete")
	}
	return id, versionID, scanner.Err()
}

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: ig_reader OS_RELEASE UNAME_M UNAME_R PACKAGE OUT")
		os.Exit(4)
	}
	id, versionID, err := osInfo(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(4)
	}
	name := fmt.Sprintf("%s/%s/%s/%s.btf", id, versionID, os.Args[2], os.Args[3])
	fmt.Fprintln(os.Stderr, name)
	packed, err := os.Open(os.Args[4])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(4)
	}
	defer packed.Close()
	gzr, err := gzip.NewReader(packed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gzip:", err)
		os.Exit(3)
	}
	tr := tar.NewReader(gzr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			os.Exit(1)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "reading tar:", err)
			os.Exit(3)
		}
		if hdr.Name == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				fmt.Fprintln(os.Stderr, "reading BTF:", err)
				os.Exit(3)
			}
			if err := os.WriteFile(os.Args[5], b, 0o644); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(4)
			}
			os.Exit(0)
		}
	}
}
