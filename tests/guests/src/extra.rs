//! Components with extra memories and tables, built by hand from a real component: what a module would do
//! to hold more memory than its limit. Shared by the sandbox's and the operator's memory tests.

fn leb128(mut value: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn section(id: u8, content: &[u8], out: &mut Vec<u8>) {
    out.push(id);
    leb128(content.len(), out);
    out.extend_from_slice(content);
}

/// A core module that defines tables (of funcref, minimum `elements`) and memories (minimum `pages`).
pub fn core_module(tables: &[usize], memories: &[usize]) -> Vec<u8> {
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    if !tables.is_empty() {
        let mut content = Vec::new();
        leb128(tables.len(), &mut content);
        for elements in tables {
            content.extend_from_slice(&[0x70, 0x00]);
            leb128(*elements, &mut content);
        }
        section(4, &content, &mut module);
    }
    if !memories.is_empty() {
        let mut content = Vec::new();
        leb128(memories.len(), &mut content);
        for pages in memories {
            content.push(0x00);
            leb128(*pages, &mut content);
        }
        section(5, &content, &mut module);
    }
    module
}

/// How many core modules the component defines at its top level (its core module index space: the
/// example's toolchain defines them all with core module sections).
fn top_level_core_modules(component: &[u8]) -> usize {
    let mut rest = &component[8..];
    let mut count = 0;
    while let Some((&id, after)) = rest.split_first() {
        let (size, after) = read_leb128(after);
        count += usize::from(id == 1);
        rest = &after[size..];
    }
    count
}

fn read_leb128(bytes: &[u8]) -> (usize, &[u8]) {
    let (mut value, mut shift) = (0usize, 0);
    for (index, byte) in bytes.iter().enumerate() {
        value |= usize::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            return (value, &bytes[index + 1..]);
        }
    }
    panic!("truncated LEB128");
}

/// The component with `modules` appended, each instantiated once: memories and tables its exports never
/// use, created when the component is instantiated — what a module would do to hold more than its limit.
pub fn with_extra_instances(component: &[u8], modules: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = component.to_vec();
    let first = top_level_core_modules(component);
    for (offset, module) in modules.iter().enumerate() {
        section(1, module, &mut bytes);
        let mut instance = vec![0x01, 0x00];
        leb128(first + offset, &mut instance);
        instance.push(0x00);
        section(2, &instance, &mut bytes);
    }
    bytes
}
