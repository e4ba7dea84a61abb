// An independent reader of a `dir` package, as tracee embeds and reads it, for the tests.
//
// The test copies a dir package to dist/btfhub/ beside this file and builds it, so the tree is
// embedded exactly as tracee's `//go:embed "dist/btfhub/*"` embeds it (go:embed skips what a
// module could not hold, hidden files below the pattern, and irregular files such as symlinks).
//
//	embed_reader OS_RELEASE UNAME_M UNAME_R OUT
//
// tracee's unpackBTFHub() opens dist/btfhub/<ID>/<VERSION_ID>/<ARCH>/<KERNEL_RELEASE>.btf in the
// embedded FS, with os-release values quotes trimmed (GetOSReleaseFieldValue) and ARCH the raw
// uname -m. Exit status: 0 found (OUT written), 1 not found, 4 usage or I/O error. The name
// looked for goes to stderr.
package main

import (
	"bufio"
	"embed"
	"fmt"
	"os"
	"strings"
)

//go:embed "dist/btfhub/*"
var btfhub embed.FS

func osRelease(path string) (map[string]string, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	values := map[string]string{}
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		parts := strings.SplitN(scanner.Text(), "=", 2)
		if len(parts) == 2 {
			values[parts[0]] = strings.Trim(parts[1], "\"")
		}
	}
	return values, scanner.Err()
}

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: embed_reader OS_RELEASE UNAME_M UNAME_R OUT")
		os.Exit(4)
	}
	values, err := osRelease(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(4)
	}
	name := fmt.Sprintf("%s/%s/%s/%s.btf", values["ID"], values["VERSION_ID"], os.Args[2], os.Args[3])
	fmt.Fprintln(os.Stderr, name)
	data, err := btfhub.ReadFile("dist/btfhub/" + name)
	if err != nil {
		os.Exit(1)
	}
	if err := os.WriteFile(os.Args[4], data, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(4)
	}
}
