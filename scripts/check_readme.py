#!/usr/bin/env python3
"""Compile and link every C code block of README.md.

Each ```c block must be a whole program (it has a main): it is compiled
with the project's warnings as errors against the build tree's headers and
linked with libactr and the echo example's generated code, so the README
cannot show code that does not build. Not run (some need a server).

    check_readme.py README.md BUILD_DIR CC 'LIBS'
"""
import os
import re
import subprocess
import sys


def main():
    readme, build, cc, libs = sys.argv[1:5]
    text = open(readme, encoding='utf-8').read()
    blocks = re.findall(r'^```c\n(.*?)^```$', text, re.S | re.M)
    out = os.path.join(build, 'readme')
    os.makedirs(out, exist_ok=True)
    bad = 0
    for i, code in enumerate(blocks, 1):
        line = text[:text.index(code)].count('\n') + 1
        src = os.path.join(out, 'block%d.c' % i)
        with open(src, 'w', encoding='utf-8') as f:
            f.write('#line %d "README.md"\n' % line)
            f.write(code)
        if not re.search(r'\bint\s+main\s*\(', code):
            print('README.md:%d: C block %d is a fragment (no main): '
                  'make it a whole program' % (line, i))
            bad += 1
            continue
        cmd = [cc, '-std=gnu11', '-Wall', '-Wextra', '-Werror',
               '-Iinclude', '-I' + os.path.join(build, 'gen'), '-I.',
               '-o', os.path.join(out, 'block%d' % i), src,
               os.path.join(build, 'gen/examples/echo_actor/echo.pb-c.o'),
               os.path.join(build, 'libactr.a')] + libs.split()
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stdout + r.stderr)
            print('README.md:%d: C block %d does not build' % (line, i))
            bad += 1
    if not blocks:
        print('check_readme: no C blocks found in %s' % readme)
        return 1
    print('readme: %d C block(s) %s' % (len(blocks),
                                         'FAIL' if bad else 'build'))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
